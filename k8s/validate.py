"""Offline validation of the rendered Kubernetes manifests (run by k8s/validate.sh).

1. Schema: every built-in resource against the Kubernetes JSON schema bundled in the
   `kubernetes-validate` package (strict: unknown fields are errors; a kind without a schema
   is an error, never a silent skip); Strimzi KafkaTopic resources against
   schemas/kafkatopic-kafka.strimzi.io-v1beta2.json.
2. The project's rules: hardened securityContext, resources, probes (native gRPC probes with
   the right service names for orders and payments, /healthz for identity), config from a
   ConfigMap, every referenced ConfigMap/Secret/PVC present (except the key material created
   out of band, which must NOT be in the manifests), a Service and a PDB per Deployment,
   KafkaTopic resources for the event topic, its DLQ and its retry topic.
3. The wiring to the real services: only environment variables the binaries read (the
   lists `--env-names DIR` points to: DIR/identity, DIR/orders and DIR/payments, each the
   output of `<binary> --print-env`, written by scripts/env-names.sh; a missing, empty or
   malformed list is an error, and so is a list without a name the rules below check), one
   issuer for all three, the
   orders-service private key mounted into orders only and its public JWK into identity,
   every data directory on a writable volume (identity's a subdirectory of its mount), and
   the demo users (IDENTITY_DEMO) off unless `--demo-allowed` (the demo overlay).

`--self-test` also checks that broken copies of the manifests are rejected, so the
validation itself can fail.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
import tempfile
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
TOPICS = {"orders.order-created.v1", "orders.order-created.v1.dlq", "orders.order-created.v1.retry"}
# Created with `kubectl create` from `orders keygen` output (README, "Kubernetes"); an apply
# of a placeholder would overwrite the real key, so they must not be in the manifests.
EXTERNAL = {("Secret", "orders-client-key"), ("ConfigMap", "orders-client-jwk")}
SERVICES = ("identity", "orders", "payments")
# The variables the wiring rules below look at. Each must be one its binary reads: a rule
# about a name nothing reads would pass while checking nothing.
RULE_ENV = {
    "identity": {"IDENTITY_ISSUER", "IDENTITY_DATA_DIR", "IDENTITY_CLIENTS_FILE", "IDENTITY_ORDERS_CLIENT_JWK", "IDENTITY_DEMO"},
    "orders": {"ORDERS_ISSUER", "ORDERS_JWKS_URI", "ORDERS_TOKEN_ENDPOINT", "ORDERS_DATA_DIR", "ORDERS_CLIENT_KEY"},
    "payments": {"PAYMENTS_ISSUER", "PAYMENTS_JWKS_URI", "PAYMENTS_DATA_DIR"},
}
ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


class EnvNamesError(Exception):
    """The list of environment variables a binary reads is missing, empty or malformed."""


def load_env_names(directory: Path) -> dict[str, set[str]]:
    """The variables each binary reads: DIR/<service>, the output of `<service> --print-env`
    (one name per line). Never an empty allow-list or a skipped check: anything but a
    non-empty list of names that covers RULE_ENV raises EnvNamesError."""
    names: dict[str, set[str]] = {}
    for service in SERVICES:
        path = directory / service
        try:
            lines = path.read_text().splitlines()
        except OSError as error:
            raise EnvNamesError(f"cannot read {path} ({error.strerror}): expected the output of `{service} --print-env` (scripts/env-names.sh)") from error
        if not lines:
            raise EnvNamesError(f"{path} is empty: expected the output of `{service} --print-env`")
        bad = [line for line in lines if not ENV_NAME.fullmatch(line)]
        if bad:
            raise EnvNamesError(f"{path}: {bad[0]!r} is not an environment variable name")
        unread = RULE_ENV[service] - set(lines)
        if unread:
            raise EnvNamesError(f"{service} does not read {', '.join(sorted(unread))}, which validate.py's wiring rules check: update the rules")
        names[service] = set(lines)
    return names


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
            for kind, ref in volume_refs(volume):
                if (kind, ref) not in EXTERNAL:
                    need(kind, ref, where)
        if not any(s["spec"].get("selector") == labels for s in by_kind.get("Service", {}).values()):
            errors.append(f"{where}: no Service selects it")
        if not any(p["spec"].get("selector", {}).get("matchLabels") == labels for p in by_kind.get("PodDisruptionBudget", {}).values()):
            errors.append(f"{where}: no PodDisruptionBudget selects it")
    for name in ("identity", "orders", "payments"):
        need("Deployment", name, "stack")
    declared = {t["spec"].get("topicName", n) for n, t in by_kind.get("KafkaTopic", {}).items()}
    for topic in sorted(TOPICS - declared):
        errors.append(f"KafkaTopic for {topic} is missing")
    for kind, name in sorted(EXTERNAL):
        if name in by_kind.get(kind, {}):
            errors.append(f"{kind}/{name} must not be in the manifests (created from `orders keygen` output; an apply would overwrite it)")
    return errors


def volume_refs(volume: dict) -> list[tuple[str, str]]:
    """(kind, name) of every ConfigMap, Secret and PVC a pod volume uses."""
    refs = []
    if "secret" in volume:
        refs.append(("Secret", volume["secret"]["secretName"]))
    if "configMap" in volume:
        refs.append(("ConfigMap", volume["configMap"]["name"]))
    if "persistentVolumeClaim" in volume:
        refs.append(("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]))
    for source in volume.get("projected", {}).get("sources", []):
        if "secret" in source:
            refs.append(("Secret", source["secret"]["name"]))
        if "configMap" in source:
            refs.append(("ConfigMap", source["configMap"]["name"]))
    return refs


def wiring_errors(docs: list[dict], env_names: dict[str, set[str]], demo_allowed: bool) -> list[str]:
    errors: list[str] = []
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    env: dict[str, dict[str, str]] = {}
    mounts: dict[str, list[tuple[str, list[tuple[str, str]], bool]]] = {}
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        volumes = {v["name"]: volume_refs(v) for v in pod.get("volumes", [])}
        container = pod["containers"][0]
        values: dict[str, str] = {}
        for source in container.get("envFrom", []):
            values.update(config_maps.get(source.get("configMapRef", {}).get("name"), {}))
        for item in container.get("env", []):
            values[item["name"]] = item.get("value", "")
        env[name] = values
        mounts[name] = [
            (m["mountPath"], volumes.get(m["name"], []), m.get("readOnly", False))
            for m in container.get("volumeMounts", [])
        ]
        # Only variables the binary reads: a misspelled or guessed name is silently ignored
        # at run time.
        if name not in env_names:
            errors.append(f"Deployment/{name}: runs none of {', '.join(SERVICES)}; its environment cannot be checked")
            continue
        for variable in sorted(set(values) - env_names[name]):
            errors.append(f"Deployment/{name}: {variable} is not read by {name} (`{name} --print-env`)")

    def mount_of(name: str, path: str):
        for mount_path, refs, read_only in mounts.get(name, []):
            if path == mount_path or path.startswith(mount_path.rstrip("/") + "/"):
                return mount_path, refs, read_only
        return None

    if not {"identity", "orders", "payments"} <= set(env):
        return errors
    issuer = env["identity"].get("IDENTITY_ISSUER", "")
    if not issuer:
        errors.append("identity: IDENTITY_ISSUER must be set (the default is derived from the listen address)")
    for service, variable, want in [
        ("orders", "ORDERS_ISSUER", issuer), ("payments", "PAYMENTS_ISSUER", issuer),
        ("orders", "ORDERS_JWKS_URI", issuer + "/jwks"), ("payments", "PAYMENTS_JWKS_URI", issuer + "/jwks"),
        ("orders", "ORDERS_TOKEN_ENDPOINT", issuer + "/token"),
    ]:
        got = env[service].get(variable)
        if got != want and (got is not None or variable.endswith("_ISSUER")):
            errors.append(f"{service}: {variable} is {got!r}, want {want!r} (identity's issuer)")
    # Data directories: writable volumes (read-only root filesystem).
    for service, variable in [("identity", "IDENTITY_DATA_DIR"), ("orders", "ORDERS_DATA_DIR"), ("payments", "PAYMENTS_DATA_DIR")]:
        path = env[service].get(variable, "")
        mount = mount_of(service, path) if path else None
        if mount is None or mount[2] or not any(kind == "PersistentVolumeClaim" for kind, _ in mount[1]):
            errors.append(f"{service}: {variable} {path!r} must be on a writable PersistentVolumeClaim mount")
        elif service == "identity" and path.rstrip("/") == mount[0].rstrip("/"):
            errors.append(f"identity: {variable} must be a subdirectory of its volume mount (identity chmods it to 0700)")
    # The orders-service key pair: private half in orders only, public half in identity.
    key = env["orders"].get("ORDERS_CLIENT_KEY", "")
    mount = mount_of("orders", key) if key else None
    if mount is None or ("Secret", "orders-client-key") not in mount[1] or not mount[2]:
        errors.append("orders: ORDERS_CLIENT_KEY must be a file of the Secret orders-client-key mounted read-only")
    for name in deployments:
        if name != "orders" and any(("Secret", "orders-client-key") in refs for _, refs, _ in mounts[name]):
            errors.append(f"{name} must not mount the Secret orders-client-key (the orders-service private key)")
    clients = env["identity"].get("IDENTITY_CLIENTS_FILE", "")
    mount = mount_of("identity", clients) if clients else None
    if mount is None or not {("ConfigMap", "identity-clients"), ("ConfigMap", "orders-client-jwk")} <= set(mount[1]):
        errors.append("identity: IDENTITY_CLIENTS_FILE must sit in one mount with the ConfigMaps identity-clients and orders-client-jwk")
    if env["identity"].get("IDENTITY_ORDERS_CLIENT_JWK"):
        errors.append("identity: register orders-service in the clients file, not with IDENTITY_ORDERS_CLIENT_JWK")
    demo = env["identity"].get("IDENTITY_DEMO", "false").lower() in ("true", "1", "yes", "on")
    if demo and not demo_allowed:
        errors.append("identity: IDENTITY_DEMO (demo users, password grant) is for the demo overlay only")
    return errors


def validate(docs: list[dict], env_names: dict[str, set[str]], demo_allowed: bool = False) -> list[str]:
    errors = [e for doc in docs for e in schema_errors(doc)]
    return errors + rule_errors(docs) + wiring_errors(docs, env_names, demo_allowed)


def self_test(docs: list[dict], env_names: dict[str, set[str]], demo_allowed: bool) -> list[str]:
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
        "config map removed": lambda d: d.remove(config_map(d, "identity-clients")),
        "unknown kind": lambda d: d.append({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "x"}}),
        "guessed env name": lambda d: config_map(d, "identity-config")["data"].update(
            IDENTITY_ORDERS_CLIENT_PUBLIC_KEY_FILE="/etc/zte/orders-client/orders-client.pub.pem"),
        "misspelled env name": lambda d: rename_key(config_map(d, "orders-config")["data"], "ORDERS_TOKEN_ENDPOINT", "ORDERS_TOKEN_ENDPIONT"),
        "misspelled RUST_LOG": lambda d: rename_key(config_map(d, "payments-config")["data"], "RUST_LOG", "RUST_LGO"),
        "another service's env name": lambda d: config_map(d, "payments-config")["data"].update(ORDERS_TOPIC="orders.order-created.v1"),
        "issuer mismatch": lambda d: config_map(d, "payments-config")["data"].update(PAYMENTS_ISSUER="http://identity.zte:8080"),
        "JWKS URI of another host": lambda d: config_map(d, "orders-config")["data"].update(ORDERS_JWKS_URI="http://127.0.0.1:18080/jwks"),
        "private key mounted into identity": lambda d: mount_secret(d, "identity", "orders-client-key"),
        "placeholder key in the manifests": lambda d: d.append(
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "orders-client-key"}, "stringData": {"client-key.pk8": "x"}}),
        "data dir on the root filesystem": lambda d: config_map(d, "payments-config")["data"].update(PAYMENTS_DATA_DIR="/srv/payments"),
        "identity data dir is the mount root": lambda d: config_map(d, "identity-config")["data"].update(IDENTITY_DATA_DIR="/var/lib/zte/identity"),
        "client key outside the Secret": lambda d: config_map(d, "orders-config")["data"].update(ORDERS_CLIENT_KEY="/var/lib/zte/orders/client-key.pk8"),
    }
    # Breakages that only the environment-name check can catch: the rejection must name
    # the variable, so a failure for another reason does not count.
    must_name = {
        "guessed env name": "IDENTITY_ORDERS_CLIENT_PUBLIC_KEY_FILE is not read by identity",
        "misspelled env name": "ORDERS_TOKEN_ENDPIONT is not read by orders",
        "misspelled RUST_LOG": "RUST_LGO is not read by payments",
        "another service's env name": "ORDERS_TOPIC is not read by payments",
    }
    if not demo_allowed:
        breakages["demo users in the base"] = lambda d: config_map(d, "identity-config")["data"].update(IDENTITY_DEMO="true")
    missed = []
    for label, breakage in breakages.items():
        broken = copy.deepcopy(docs)
        breakage(broken)
        errors = validate(broken, env_names, demo_allowed)
        if not errors or (label in must_name and not any(must_name[label] in e for e in errors)):
            missed.append(label)
    return missed


def env_list_self_test(env_names: dict[str, set[str]]) -> list[str]:
    """A missing, empty, malformed or incomplete env-name list must be refused, each for its
    own reason; returns the cases that were not."""
    cases = {
        "missing list": (lambda d: (d / "orders").unlink(), "orders --print-env"),
        "empty list": (lambda d: (d / "payments").write_text(""), "payments is empty"),
        "malformed name": (lambda d: (d / "identity").write_text("IDENTITY_DEMO\nnot a name\n"), "'not a name' is not"),
        "rule name unread": (lambda d: (d / "orders").write_text("ORDERS_ISSUER\n"), "orders does not read ORDERS_CLIENT_KEY"),
    }
    missed = []
    for label, (breakage, want) in cases.items():
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            for service, names in env_names.items():
                (directory / service).write_text("".join(f"{name}\n" for name in sorted(names)))
            breakage(directory)
            try:
                load_env_names(directory)
                missed.append(label)
            except EnvNamesError as error:
                if want not in str(error):
                    missed.append(f"{label} (refused for another reason: {error})")
    return missed


def rename_key(data: dict, old: str, new: str) -> None:
    data[new] = data.pop(old)


def config_map(docs: list[dict], name: str) -> dict:
    return next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == name)


def mount_secret(docs: list[dict], deployment_name: str, secret: str) -> None:
    deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == deployment_name)
    pod = deployment["spec"]["template"]["spec"]
    pod["volumes"].append({"name": "stolen", "secret": {"secretName": secret}})
    pod["containers"][0]["volumeMounts"].append({"name": "stolen", "mountPath": "/etc/stolen", "readOnly": True})


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Validates rendered Kubernetes manifests offline.")
    parser.add_argument("manifests", nargs="?", type=Path, help="the rendered manifests (default: stdin)")
    parser.add_argument("--env-names", type=Path, required=True, metavar="DIR",
                        help="DIR/identity, DIR/orders, DIR/payments: each binary's `--print-env` output (scripts/env-names.sh)")
    parser.add_argument("--self-test", action="store_true", help="also check that broken copies are rejected")
    parser.add_argument("--demo-allowed", action="store_true", help="IDENTITY_DEMO may be on (the demo overlay)")
    args = parser.parse_args(argv)
    try:
        env_names = load_env_names(args.env_names)
    except EnvNamesError as error:
        print(f"k8s: INVALID environment variable list: {error}", file=sys.stderr)
        return 1
    text = args.manifests.read_text() if args.manifests else sys.stdin.read()
    docs = [d for d in yaml.safe_load_all(text) if d]
    errors = validate(docs, env_names, args.demo_allowed)
    for error in errors:
        print(f"k8s: INVALID {error}", file=sys.stderr)
    if errors:
        return 1
    kinds = sorted({d["kind"] for d in docs})
    print(f"k8s: {len(docs)} resources valid against Kubernetes {KUBERNETES_VERSION} schemas (strict) and project rules: {', '.join(kinds)}")
    if args.self_test:
        missed = self_test(docs, env_names, args.demo_allowed)
        for label in missed:
            print(f"k8s: self-test: a manifest with '{label}' was NOT rejected", file=sys.stderr)
        missed_lists = env_list_self_test(env_names)
        for label in missed_lists:
            print(f"k8s: self-test: an env-name list with '{label}' was NOT refused", file=sys.stderr)
        if missed or missed_lists:
            return 1
        print("k8s: self-test: every deliberately broken copy and env-name list was rejected")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
