"""The Kubernetes manifests of config/deploy/kubernetes: one sync CronJob per source of their
isobridge.toml, secrets only referenced, one image and one command line, pods locked down, resources
sized by the documented rule, and settings that load.

PyYAML is no dependency of isobridge, so the manifests are read by :func:`read_yaml`, a strict reader
of the YAML they are written in (block mappings and sequences, plain and double-quoted scalars, JSON
flow sequences); anything else in them is an error, never a guess.
"""

from __future__ import annotations

import json
import re
import tomllib
from contextlib import redirect_stderr
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from isobridge.core.cli import build_parser
from isobridge.core.errors import ConfigurationError
from isobridge.core.plugins import load_plugins
from isobridge.core.settings import SECRET_HINTS, SECRETS_DIR_VARIABLE, PrivacySettings, load_settings

ROOT = Path(__file__).resolve().parents[1]
KUBE = ROOT / "config/deploy/kubernetes"
TOML = KUBE / "isobridge.toml"
CONFIG_PATH = "/etc/isobridge/isobridge.toml"
SECRETS_PATH = "/run/secrets/isobridge"
CREATED_APART = {"state-migrate-job.yaml", "ops-pod.yaml"}
"""Manifests applied with `kubectl create -f`, not by the kustomization."""
SECRET_FILES = ("ledger__password", "privacy__pseudonym_key", "sources__onegate__password", "sinks__qms__auth__token")
"""The files of the Secret isobridge-secrets, as docs/deployment.md tells the operator to make them."""
NOT_ON_THIS_BRANCH = {"deliver": "isobridge deliver", "migrate": "isobridge state migrate"}
"""Commands the PostgreSQL ledger (issue 15) adds: `isobridge deliver`, `isobridge state migrate`."""
BASE_MIB, WORKER_MIB = 120, 13
"""The sizing rule of docs/deployment.md: a sync takes about 120 MiB + 13 MiB per evaluation worker."""


# -- a strict reader of the manifests' YAML -------------------------------------------------------
def read_yaml(text: str) -> list[Any]:
    """The documents of `text`; ValueError on anything outside the subset the manifests use."""
    documents: list[list[list[Any]]] = [[]]
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.rstrip() == "---":
            documents.append([])
            continue
        line = _without_comment(raw).rstrip()
        if not line.strip():
            continue
        if "\t" in line:
            raise ValueError(f"line {number}: a tab")
        documents[-1].append([len(line) - len(line.lstrip(" ")), line.strip(), number])
    read = []
    for lines in filter(None, documents):
        value, end = _node(lines, 0, lines[0][0])
        if end != len(lines):
            raise ValueError(f"line {lines[end][2]}: bad indentation")
        read.append(value)
    return read


def _without_comment(line: str) -> str:
    quoted = False
    for index, char in enumerate(line):
        if char == '"' and (index == 0 or line[index - 1] != "\\"):
            quoted = not quoted
        elif char == "#" and not quoted and (index == 0 or line[index - 1] == " "):
            return line[:index]
    return line


def _is_item(text: str) -> bool:
    return text == "-" or text.startswith("- ")


def _node(lines: list[list[Any]], at: int, indent: int) -> tuple[Any, int]:
    return (_sequence if _is_item(lines[at][1]) else _mapping)(lines, at, indent)


def _mapping(lines: list[list[Any]], at: int, indent: int) -> tuple[dict[str, Any], int]:
    mapping: dict[str, Any] = {}
    while at < len(lines) and lines[at][0] == indent and not _is_item(lines[at][1]):
        _, text, number = lines[at]
        match = re.fullmatch(r"([A-Za-z0-9_./-]+):(?: (.*))?", text)
        if match is None or match[1] in mapping:
            raise ValueError(f"line {number}: not a new `key: value`: {text}")
        at += 1
        if match[2]:
            mapping[match[1]] = _scalar(match[2], number)
        elif at < len(lines) and (lines[at][0] > indent or (lines[at][0] == indent and _is_item(lines[at][1]))):
            mapping[match[1]], at = _node(lines, at, lines[at][0])
        else:
            raise ValueError(f"line {number}: {match[1]} has no value")
    return mapping, at


def _sequence(lines: list[list[Any]], at: int, indent: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    while at < len(lines) and lines[at][0] == indent and _is_item(lines[at][1]):
        _, text, number = lines[at]
        rest = text[1:].lstrip(" ")
        if re.match(r"[A-Za-z0-9_./-]+:( |$)", rest):  # `- key: value` opens a mapping at `key`'s column
            lines[at] = [indent + len(text) - len(rest), rest, number]
            item, at = _mapping(lines, at, lines[at][0])
        elif rest:
            item, at = _scalar(rest, number), at + 1
        else:
            raise ValueError(f"line {number}: an empty item")
        items.append(item)
    return items, at


def _scalar(text: str, number: int) -> Any:
    if text.startswith(('"', "[")):
        return json.loads(text)  # a double-quoted string or a flow sequence written as JSON
    if text[0] in "{'&*!|>%@`" or ": " in text or text.endswith(":"):
        raise ValueError(f"line {number}: unsupported YAML: {text}")
    if re.fullmatch(r"0[0-7]+", text):
        return int(text, 8)  # a file mode (YAML 1.1, as Kubernetes reads it)
    if re.fullmatch(r"-?(0|[1-9][0-9]*)", text):
        return int(text)
    if text in ("true", "false"):
        return text == "true"
    if text.lower() in ("yes", "no", "on", "off", "y", "n", "null", "~") or re.fullmatch(r"[-+.0-9eE]+", text):
        raise ValueError(f"line {number}: ambiguous plain scalar (quote it): {text}")
    return text


def test_the_reader_reads_the_subset_and_refuses_the_rest() -> None:
    text = ('a:\n  b: "x: #1"  # note\n  c:\n  - name: x\n    mode: 0440\n  - [1, "two"]\nd: true\n---\n- plain/text\n')
    assert read_yaml(text) == [{"a": {"b": "x: #1", "c": [{"name": "x", "mode": 0o440}, [1, "two"]]}, "d": True},
                               ["plain/text"]]
    for bad in ("a:\n\tb: 1\n", "a: |\n  x\n", "a: &x 1\n", "a: 1\na: 2\n", "a: yes\n", "a: 1.5\n", "a:\n",
                "a:\n  b: 1\n c: 2\n", "a: b: c\n"):
        with pytest.raises(ValueError):
            read_yaml(bad)


# -- the manifests ---------------------------------------------------------------------------------
def manifests() -> dict[str, dict[str, Any]]:
    """Every manifest file (one document each) by file name."""
    read = {}
    for path in sorted(KUBE.glob("*.yaml")):
        documents = read_yaml(path.read_text(encoding="utf-8"))
        assert len(documents) == 1, f"{path.name}: one object per file"
        read[path.name] = documents[0]
    return read


def pods() -> dict[str, dict[str, Any]]:
    """The pod spec of every CronJob, Job and Pod, by file name."""
    found = {}
    for name, manifest in manifests().items():
        spec = manifest.get("spec", {})
        kind = manifest["kind"]
        if kind == "CronJob":
            found[name] = spec["jobTemplate"]["spec"]["template"]["spec"]
        elif kind == "Job":
            found[name] = spec["template"]["spec"]
        elif kind == "Pod":
            found[name] = spec
    return found


def container(name: str) -> dict[str, Any]:
    """The one container of a manifest's pod."""
    containers = pods()[name]["containers"]
    assert len(containers) == 1, f"{name}: one container"
    return containers[0]


def cronjobs() -> dict[str, dict[str, Any]]:
    return {name: manifest for name, manifest in manifests().items() if manifest["kind"] == "CronJob"}


def settings_file() -> dict[str, Any]:
    return tomllib.loads(TOML.read_text(encoding="utf-8"))


def test_every_file_is_applied_by_the_kustomization_or_created_apart() -> None:
    found = manifests()
    kustomization = found.pop("kustomization.yaml")
    assert set(found) == set(kustomization["resources"]) | CREATED_APART
    assert kustomization["configMapGenerator"] == [{"name": "isobridge-config", "files": ["isobridge.toml"]}]
    assert kustomization["generatorOptions"]["disableNameSuffixHash"] is True  # the Job and Pod name it as it is
    namespace = found["namespace.yaml"]["metadata"]["name"]
    assert kustomization["namespace"] == namespace
    assert all(manifest["metadata"]["namespace"] == namespace for name, manifest in found.items()
               if manifest["kind"] != "Namespace")


def test_every_source_has_exactly_one_sync_cronjob() -> None:
    synced: list[str] = []
    for name in cronjobs():
        args = container(name)["args"]
        if args[0] == "sync":
            sources = [args[at + 1] for at, arg in enumerate(args) if arg == "--source"]
            assert len(sources) == 1, f"{name}: a sync CronJob syncs one source: {args}"
            synced += sources
    assert sorted(synced) == sorted(settings_file()["sources"])
    assert [name for name in cronjobs() if container(name)["args"][0] == "deliver"] == ["cronjob-deliver.yaml"]


def test_cronjobs_never_overlap_and_end_within_their_deadline() -> None:
    lease = settings_file()["sync"]["lock_lease_minutes"] * 60
    for name, cronjob in cronjobs().items():
        spec, job = cronjob["spec"], cronjob["spec"]["jobTemplate"]["spec"]
        assert spec["concurrencyPolicy"] == "Forbid", name
        assert 0 < spec["startingDeadlineSeconds"] < 15 * 60, name
        assert spec["timeZone"] == "Asia/Ho_Chi_Minh", name
        # a run waits up to the lease for a sink another process delivers to: its deadline leaves room
        assert job["activeDeadlineSeconds"] > lease, f"{name}: activeDeadlineSeconds within the lock lease"
        assert job["backoffLimit"] >= 0, name
    migrate = manifests()["state-migrate-job.yaml"]
    assert migrate["metadata"]["generateName"] and migrate["spec"]["backoffLimit"] == 0


def test_pods_run_as_non_root_on_a_read_only_root_filesystem() -> None:
    for name, pod in pods().items():
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False, name
        context = container(name)["securityContext"]
        assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False, name
        assert context["capabilities"] == {"drop": ["ALL"]}, name
        mounts = {mount["mountPath"]: mount for mount in container(name)["volumeMounts"]}
        assert set(volumes) == {mount["name"] for mount in mounts.values()}, f"{name}: every volume mounted"
        assert "emptyDir" in volumes[mounts["/tmp"]["name"]], f"{name}: /tmp is an emptyDir"
        written = [path for path, mount in mounts.items() if not mount.get("readOnly")]
        assert written == ["/tmp"], f"{name}: only /tmp is writable"


def test_one_image_and_the_same_configuration_everywhere() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    images = {container(name)["image"] for name in pods()}
    assert images == {f"registry.example.gov.vn/isobridge:{version}"}
    assert f"-t {images.pop()} " in (ROOT / "config/deploy/Containerfile").read_text(encoding="utf-8")
    for name, pod in pods().items():
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        mounts = {mount["mountPath"]: mount for mount in container(name)["volumeMounts"]}
        config = mounts[CONFIG_PATH]
        assert config["subPath"] == "isobridge.toml", name
        assert volumes[config["name"]]["configMap"]["name"] == "isobridge-config", name
        assert volumes[mounts["/etc/isobridge/procedures"]["name"]]["configMap"]["name"] == "isobridge-procedures"
        args = container(name).get("args")
        if args is not None:  # the ops pod sleeps; commands are run in it with --config
            assert args[args.index("--config") + 1] == CONFIG_PATH, name
            assert args[args.index("--log-format") + 1] == "json", name


@pytest.mark.parametrize("name", sorted(set(pods()) - {"ops-pod.yaml"}))
def test_each_command_line_parses(name: str) -> None:
    args = container(name)["args"]
    errors = StringIO()
    try:
        with redirect_stderr(errors):
            build_parser(plugin_commands=False).parse_args(args)
    except SystemExit:
        unknown = re.search(r"invalid choice: '([^']+)'", errors.getvalue())
        if unknown and unknown[1] in NOT_ON_THIS_BRANCH:
            pytest.skip(f"`{NOT_ON_THIS_BRANCH[unknown[1]]}` (PostgreSQL ledger) not on this branch")
        raise AssertionError(f"{name}: {args}: {errors.getvalue()}") from None


def test_secrets_are_referenced_never_inlined() -> None:
    assert not [name for name, manifest in manifests().items() if manifest.get("kind") == "Secret"]
    for name, pod in pods().items():
        env = {entry["name"]: entry for entry in container(name)["env"]}
        assert env[SECRETS_DIR_VARIABLE]["value"] == SECRETS_PATH, name
        assert not [key for key in env if key.lower().endswith(SECRET_HINTS)], f"{name}: a secret in the environment"
        mount = {mount["mountPath"]: mount for mount in container(name)["volumeMounts"]}[SECRETS_PATH]
        volume = next(volume for volume in pod["volumes"] if volume["name"] == mount["name"])
        assert mount["readOnly"] is True and volume["secret"]["secretName"] == "isobridge-secrets", name
        assert volume["secret"]["defaultMode"] == 0o440, name

    def secret_keys(table: dict[str, Any], where: str = "") -> list[str]:
        found = []
        for key, value in table.items():
            if isinstance(value, dict):
                found += secret_keys(value, f"{where}{key}.")
            elif key.lower().endswith(SECRET_HINTS):
                found.append(where + key)
        return found

    settings = settings_file()
    assert secret_keys(settings) == []
    assert urlsplit(settings["ledger"]["url"]).password is None
    guide = (ROOT / "docs/deployment.md").read_text(encoding="utf-8")
    assert [name for name in SECRET_FILES if name not in guide] == [], "docs/deployment.md names every secret file"


def quantity(text: str) -> float:
    """A Kubernetes quantity in cores or MiB: "500m" → 0.5, "2" → 2, "192Mi" → 192, "1Gi" → 1024."""
    units = {"m": 0.001, "Mi": 1, "Gi": 1024, "": 1}
    number, unit = re.fullmatch(r"([0-9]+)(m|Mi|Gi|)", str(text)).groups()
    return int(number) * units[unit]


def test_resources_follow_the_sizing_rule() -> None:
    workers = settings_file()["sync"]["workers"]
    assert workers > 0, "[sync] workers is set: in a pod the CPU affinity is the whole node's"
    for name in pods():
        resources = container(name)["resources"]
        for kind in ("cpu", "memory"):
            assert quantity(resources["requests"][kind]) <= quantity(resources["limits"][kind]), f"{name}: {kind}"
        if container(name).get("args", [""])[0] == "sync":
            assert quantity(resources["requests"]["memory"]) >= BASE_MIB + WORKER_MIB * workers, name
            assert quantity(resources["limits"]["cpu"]) == workers, f"{name}: a CPU limit of [sync] workers"
        else:
            assert quantity(resources["requests"]["memory"]) >= BASE_MIB, name


@pytest.fixture
def secrets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The Secret as the pods see it: one file per settings path, each with an example value."""
    for name in SECRET_FILES:
        (tmp_path / name).write_text(f"example-{name}\n", encoding="utf-8")
    monkeypatch.setenv(SECRETS_DIR_VARIABLE, str(tmp_path))
    return tmp_path


def test_every_adapter_accepts_its_options_with_the_secret_files() -> None:
    settings = settings_file()
    for name in SECRET_FILES:  # a secret file's name is its settings path
        *path, key = name.split("__")
        table = settings
        for part in path:
            table = table.setdefault(part, {})
        table[key] = f"example-{name}"
    registry = load_plugins()
    for tables, kinds in ((settings["sources"], registry.source), (settings["sinks"], registry.sink)):
        for options in tables.values():
            kinds(options["adapter"]).Options.model_validate(options)
    PrivacySettings.model_validate(settings["privacy"])


def test_the_settings_load_with_the_secret_files(secrets_dir: Path) -> None:
    try:
        settings = load_settings(TOML)
    except ConfigurationError as exc:
        if re.search(r"ledger\.(url|password): unknown key", str(exc)):
            pytest.skip("PostgreSQL ledger settings not on this branch")
        raise
    assert sorted(settings.sources) == sorted(settings_file()["sources"])
    assert "example-ledger__password" in settings.secrets()  # masked in every log line and message
