"""A simulated WeChat serving the Wechaty Puppet Service protocol (see DESIGN.md).

- :mod:`sandbox.world` — the spec dataclasses a world is built from
  (``WorldSpec``, ``AccountSpec``, ``RoomSpec``, ``MemberSpec``) and the world model.
- :mod:`sandbox.risk` — ``SandboxRiskSettings`` and the risk-control model.
- :mod:`sandbox.sandbox` — ``Sandbox``: one puppet service per account plus the
  plain methods tests and the control plane call.
- :mod:`sandbox.control` — ``create_control_app(sandbox)``: JSON API and web page.
- :mod:`sandbox.demo` — a tiny built-in world; :mod:`bench.sandbox` — the throughput probe.

Submodules are imported explicitly so that building a spec does not load gRPC.
"""
