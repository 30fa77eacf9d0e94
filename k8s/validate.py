"""Offline validation of the rendered Kubernetes manifests (run by k8s/validate.sh).

1. Schema: every built-in resource against the Kubernetes JSON schema bundled in the
   `kubernetes-validate` package (strict: unknown fields are errors; a kind without a schema
   is an error, never a silent skip); Strimzi KafkaTopic resources against
   schemas/kafkatopic-kafka.strimzi.io-v1beta2.json.
2. The project's rules: hardened securityContext, resources, probes (native gRPC probes with
   the right service names for orders and payments, /healthz for identity), config from a
   ConfigMap, every referenced ConfigMap/Secret/PVC present, a Service and a PDB per
   Deployment, KafkaTopic resources for the event topic and its DLQ.

`--self-test` also checks that broken copies of the manifests are rejected, so the
validation itself can fail.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.33.0"
HERE = Path(__file__).resolve().parent
STRIMZI_TOPIC_SCHEMA = json.loads(
    (HERE / "schemas" / "kafkatopic-kafka.strimzi.io-v1beta2.json").read_text()
)
GRPC_SERVICES = {
    "orders": (50051, "orders.v1.OrdersService"),
    "payments": (50052, "payments.v1.PaymentsService"),
}
TOPICS = {"orders.order-created.v1", "orders.order-created.v1.dlq"}


def schema_errors(doc: dict) -> list[str]:
    name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    if doc.get("apiVersion") == "kafka.strimzi.io/v1beta2" and doc.get("kind") == "KafkaTopic":
        validator = jsonschema.Draft7Validator(STRIMZI_TOPIC_SCHEMA)
        return [f"{name}: {e.message} at {list(e.absolute_path)}" for e in validator.iter_errors(doc)]
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{name}: {error.message} at {list(error.path)}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{name}: no schema for {doc.get('apiVersion')} {doc.get('kind')}"]
    return []


def rule_errors(docs: list[dict]) -> list[str]:
    errors: list[str] = []
    by_kind: dict[str, dict[str, dict]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc

    def need(kind: str, name: str, why: str) -> None:
        if name not in by_kind.get(kind, {}):
            errors.append(f"{why}: {kind}/{name} is missing")

    for name, deployment in by_kind.get("Deployment", {}).items():
        where = f"Deployment/{name}"
        pod = deployment["spec"]["template"]["spec"]
        labels = deployment["spec"]["selector"]["matchLabels"]
        psc = pod.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True or psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            errors.append(f"{where}: pod securityContext needs runAsNonRoot and seccomp RuntimeDefault")
        for container in pod["containers"]:
            c = f"{where}/{container['name']}"
            sc = container.get("securityContext", {})
            expected = {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": True,
                "runAsUser": 10001,
            }
            for key, value in expected.items():
                if sc.get(key) != value:
                    errors.append(f"{c}: securityContext.{key} must be {value!r}")
            if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                errors.append(f"{c}: capabilities must drop ALL")
            resources = container.get("resources", {})
            for part in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(resources.get(part, {})):
                    errors.append(f"{c}: resources.{part} needs cpu and memory")
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                spec = container.get(probe)
                if spec is None:
                    errors.append(f"{c}: {probe} missing")
                    continue
                if name in GRPC_SERVICES:
                    port, service = GRPC_SERVICES[name]
                    grpc = spec.get("grpc")
                    want = "" if probe == "livenessProbe" else service
                    if grpc is None or grpc.get("port") != port or grpc.get("service", "") != want:
                        errors.append(f"{c}: {probe} must be grpc {{port: {port}, service: {want!r}}}")
                elif spec.get("httpGet", {}).get("path") != "/healthz":
                    errors.append(f"{c}: {probe} must be an HTTP GET of /healthz")
            config_maps = [e["configMapRef"]["name"] for e in container.get("envFrom", []) if "configMapRef" in e]
            if not config_maps:
                errors.append(f"{c}: configuration must come from a ConfigMap (envFrom)")
            for cm in config_maps:
                need("ConfigMap", cm, c)
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                need("Secret", volume["secret"]["secretName"], where)
            if "persistentVolumeClaim" in volume:
                need("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"], where)
        if not any(s["spec"].get("selector") == labels for s in by_kind.get("Service", {}).values()):
            errors.append(f"{where}: no Service selects it")
        if not any(p["spec"].get("selector", {}).get("matchLabels") == labels for p in by_kind.get("PodDisruptionBudget", {}).values()):
            errors.append(f"{where}: no PodDisruptionBudget selects it")
    for name in ("identity", "orders", "payments"):
        need("Deployment", name, "stack")
    declared = {t["spec"].get("topicName", n) for n, t in by_kind.get("KafkaTopic", {}).items()}
    for topic in sorted(TOPICS - declared):
        errors.append(f"KafkaTopic for {topic} is missing")
    return errors


def validate(docs: list[dict]) -> list[str]:
    errors = [e for doc in docs for e in schema_errors(doc)]
    return errors + rule_errors(docs)


def self_test(docs: list[dict]) -> list[str]:
    """Broken copies must be rejected; returns the breakages that were NOT caught."""

    def deployment(copy_docs: list[dict], name: str) -> dict:
        return next(d for d in copy_docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name)

    def container(copy_docs: list[dict], name: str) -> dict:
        return deployment(copy_docs, name)["spec"]["template"]["spec"]["containers"][0]

    breakages = {
        "unknown field in a container": lambda d: container(d, "orders").update(imagePullPolicyy="Always"),
        "wrong type for a port": lambda d: container(d, "payments")["ports"][0].update(containerPort="50052"),
        "unknown KafkaTopic spec field": lambda d: next(x for x in d if x["kind"] == "KafkaTopic")["spec"].update(partition=3),
        "zero partitions": lambda d: next(x for x in d if x["kind"] == "KafkaTopic")["spec"].update(partitions=0),
        "root filesystem writable": lambda d: container(d, "identity")["securityContext"].update(readOnlyRootFilesystem=False),
        "wrong gRPC health service": lambda d: container(d, "orders")["readinessProbe"]["grpc"].update(service="orders.v1.Orders"),
        "liveness probe removed": lambda d: container(d, "payments").pop("livenessProbe"),
        "PDB removed": lambda d: d.remove(next(x for x in d if x["kind"] == "PodDisruptionBudget")),
        "secret removed": lambda d: d.remove(next(x for x in d if x["kind"] == "Secret")),
        "unknown kind": lambda d: d.append({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "x"}}),
    }
    missed = []
    for label, breakage in breakages.items():
        broken = copy.deepcopy(docs)
        breakage(broken)
        if not validate(broken):
            missed.append(label)
    return missed


def main(argv: list[str]) -> int:
    args = [a for a in argv if a != "--self-test"]
    text = Path(args[0]).read_text() if args else sys.stdin.read()
    docs = [d for d in yaml.safe_load_all(text) if d]
    errors = validate(docs)
    for error in errors:
        print(f"k8s: INVALID {error}", file=sys.stderr)
    if errors:
        return 1
    kinds = sorted({d["kind"] for d in docs})
    print(f"k8s: {len(docs)} resources valid against Kubernetes {KUBERNETES_VERSION} schemas (strict) and project rules: {', '.join(kinds)}")
    if "--self-test" in argv:
        missed = self_test(docs)
        for label in missed:
            print(f"k8s: self-test: a manifest with '{label}' was NOT rejected", file=sys.stderr)
        if missed:
            return 1
        print("k8s: self-test: every deliberately broken copy was rejected")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
