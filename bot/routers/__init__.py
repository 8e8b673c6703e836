"""The routers that translate chat into domain calls, one per feature.

Each module exposes a :class:`bot.dispatcher.Router`; ``web.app`` includes them in
order, explicitly.
"""
