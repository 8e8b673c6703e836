"""The town's rhythm (日清、周商、旬查、月结) and tasks to grids (任务下达).

Above the ticket and notice domains, below the bot: each cadence is a data function
that takes ``now``, records that it ran (:mod:`rhythm.runs`) and returns the messages
people see in their chats; :mod:`rhythm.jobs` puts them on the one scheduler.
"""
