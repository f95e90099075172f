"""What the static checks read, gathered once per audit (``hubkit.audit.evidence`` fills it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Sources:
    """The rendered tree, its manifest, the offline plan and the run records of one hub."""

    hub: object                 # hubkit.model.Hub
    topo: object                # hubkit.topology.Topology
    build_dir: Path             # build/<id>
    build_rel: str              # "build/<id>" as shown in refs
    manifest: dict | None = None
    plan: dict | None = None    # offline plan JSON
    plan_findings: list = field(default_factory=list)  # Finding
    git: dict | None = None
    configure: dict | None = None
    cloud: object | None = None  # hubkit.cloud.record.CloudRecord: provisioned, planned, skipped
    archive: dict | None = None  # hubkit.audit.archive: the audited build, archived with its manifest

    def read(self, rel: str) -> str | None:
        p = self.build_dir / rel
        return p.read_text(encoding="utf-8", errors="replace") if p.is_file() else None

    def ref(self, rel: str, line: int | None = None) -> str:
        return f"{self.build_rel}/{rel}" + (f":{line}" if line else "")

    def router_file(self, rel: str) -> tuple[str, str | None]:
        """(path in the build, text or None) of a file rendered for the router."""
        path = f"hosts/{self.topo.router.name}/{rel}"
        return path, self.read(path)

    def host_files(self) -> list[str]:
        """Every rendered host file the manifest lists (hosts/<host>/...), sorted."""
        return sorted(r for r in (self.manifest or {}).get("files", {}) if r.startswith("hosts/"))
