"""Several worker processes sharing one deployment through PostgreSQL (issue #15, foundation).

* :mod:`cluster.leases`: bot account leases with fencing epochs, and their balance;
* :mod:`cluster.workers`: the registry of worker processes and their heartbeats;
* :mod:`cluster.leader`: leader election on an advisory lock, and jobs that run once per
  period across the cluster;
* :mod:`cluster.notify`: ``LISTEN/NOTIFY``.

A layer above ``models`` and ``core``, below everything else. Nothing uses it yet: the hub,
the broadcaster and the scheduler still assume one process.

On SQLite (one process per deployment, held by ``models.db.InstanceLock``): leases, the
registry and job runs work unchanged (SQLite serialises writers with ``BEGIN IMMEDIATE``), so
the one worker holds every account; the leader election always leads; ``LISTEN/NOTIFY``
raises :class:`cluster.backend.ClusterUnsupported`.
"""
