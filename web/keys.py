"""Typed keys of the aiohttp application."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.desk import Desk
from bot.hub import BotHub
from broadcast.chasing import Chaser
from broadcast.engine import Broadcaster
from core.config import Settings

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
HUB = web.AppKey("hub", BotHub)
BROADCASTER = web.AppKey("broadcaster", Broadcaster)
CHASER = web.AppKey("chaser", Chaser)
DESK = web.AppKey("desk", Desk)
"""What the web asks of the bots: here (gridcast run) or in the bot process (gridcast web)."""
