"""Static checks of docker-compose.yml and deploy/k8s/*.yaml, for machines without `docker compose`.

Used by `make compose-check` when the docker compose plugin is missing. It is no substitute for
`docker compose config`, but it catches what breaks most often: YAML syntax, unknown service
references, bad depends_on conditions, undeclared volumes, malformed ${VAR} interpolation, and
Kubernetes documents without apiVersion/kind/metadata.name.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover
    sys.exit("PyYAML is missing: run `make install` first (it is in the locked dev environment).")

ROOT = Path(__file__).resolve().parent.parent
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
# $$ is a literal dollar; ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?err}, ${NAME?err}, $NAME
INTERPOLATION = re.compile(r"\$(\$|\{[A-Za-z_][A-Za-z0-9_]*(?:(?::?[-?+])[^}]*)?\}|[A-Za-z_][A-Za-z0-9_]*)")


def walk_strings(node, path="$"):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk_strings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk_strings(value, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


def check_compose(path: Path) -> list[str]:
    errors: list[str] = []
    doc = yaml.safe_load(path.read_text())
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        return [f"{path.name}: no `services` mapping"]
    services = doc["services"]
    volumes = set((doc.get("volumes") or {}).keys())

    for where, text in walk_strings(doc):
        stripped = INTERPOLATION.sub("", text)
        if "$" in stripped:
            errors.append(f"{where}: bad interpolation in {text!r} (write $$ for a literal dollar)")

    for name, svc in services.items():
        if not isinstance(svc, dict):
            errors.append(f"services.{name}: not a mapping")
            continue
        if "image" not in svc and "build" not in svc:
            errors.append(f"services.{name}: neither image nor build")
        build = svc.get("build")
        if isinstance(build, dict):
            context = ROOT / build.get("context", ".")
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            if not dockerfile.is_file():
                errors.append(f"services.{name}.build: {dockerfile} does not exist")
        deps = svc.get("depends_on") or {}
        items = deps.items() if isinstance(deps, dict) else ((d, {}) for d in deps)
        for dep, spec in items:
            if dep not in services:
                errors.append(f"services.{name}.depends_on: unknown service {dep!r}")
            cond = (spec or {}).get("condition", "service_started")
            if cond not in CONDITIONS:
                errors.append(f"services.{name}.depends_on.{dep}: bad condition {cond!r}")
            if cond == "service_healthy" and dep in services and "healthcheck" not in services[dep]:
                errors.append(f"services.{name}.depends_on.{dep}: {dep} has no healthcheck")
        for vol in svc.get("volumes") or []:
            source = vol.split(":", 1)[0] if isinstance(vol, str) else (vol or {}).get("source", "")
            if source and not source.startswith((".", "/", "~")) and source not in volumes:
                errors.append(f"services.{name}.volumes: named volume {source!r} is not declared")
        env = svc.get("environment")
        if env is not None and not isinstance(env, (dict, list)):
            errors.append(f"services.{name}.environment: must be a mapping or a list")
    return errors


def check_k8s(directory: Path) -> list[str]:
    errors: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        for i, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc is None:
                continue
            where = f"{path.relative_to(ROOT)}#{i}"
            if path.name == "kustomization.yaml":
                for res in doc.get("resources", []):
                    if not (directory / res).is_file():
                        errors.append(f"{where}: resource {res} not found")
                continue
            for key in ("apiVersion", "kind"):
                if key not in doc:
                    errors.append(f"{where}: no {key}")
            if not (doc.get("metadata") or {}).get("name"):
                errors.append(f"{where}: no metadata.name")
            if doc.get("kind") == "Deployment":
                selector = doc["spec"]["selector"]["matchLabels"]
                labels = doc["spec"]["template"]["metadata"]["labels"]
                if any(labels.get(k) != v for k, v in selector.items()):
                    errors.append(f"{where}: selector does not match the pod labels")
    return errors


def main() -> int:
    errors = check_compose(ROOT / "docker-compose.yml")
    k8s = ROOT / "deploy" / "k8s"
    if k8s.is_dir():
        errors += check_k8s(k8s)
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    if errors:
        return 1
    print("docker-compose.yml and deploy/k8s: YAML OK (static checks; `docker compose config` not run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
