"""The deploy files, checked offline: compose's topology, the Kubernetes manifests against the API
schemas (``kubernetes-validate`` ships them), and the compose reverse proxy's nginx config run for
real in front of ``make cluster``'s two gateways.

The proxy test runs the very ``deploy/proxy/nginx.conf`` the compose ``proxy`` container runs;
only ``gateways.conf`` (where the replicas are: Docker's DNS name there, two loopback ports
here) is written by the test.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate  # type: ignore[import-untyped]  # no type information shipped
import pytest
import websocket
import yaml  # type: ignore[import-untyped]  # ships with schemathesis; untyped

from orchestrator.events.nats_settings import NatsSettings
from orchestrator.launcher.nats_server import find_binary, free_port
from tests.harness import wait_until, within_one_minute
from tests.test_launcher import Launched, kill_launched, launch_cluster, wait_for_output

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
NODES = ("n1", "n2", "n3")
SERVICES = ("gateway", "agents", "workspace", "archive")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def manifests() -> list[dict[str, Any]]:
    return [
        document
        for path in sorted((DEPLOY / "k8s").glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
    ]


def test_compose_runs_every_service_from_its_own_image_on_the_cluster() -> None:
    services = compose()["services"]
    for node in NODES:
        mounted = [v.split(":")[0] for v in services[node]["volumes"]]
        conf = ROOT / mounted[0]
        assert conf == DEPLOY / "nats" / f"{node}.conf"
        check = subprocess.run(
            [find_binary(), "-t", "-c", str(conf)], capture_output=True, text=True, check=False
        )
        assert check.returncode == 0, check.stderr
    for name in SERVICES:
        spec = services[name]
        assert spec["build"]["args"]["SERVICE"] == name
        assert (ROOT / "services" / name / "pyproject.toml").exists()
        env = spec["environment"]
        assert env["NATS_URL"].split(",") == [f"nats://{n}:4222" for n in NODES]
        assert env["NATS_REPLICAS"] == "3"
        NatsSettings(nats_url=env["NATS_URL"], nats_replicas=int(env["NATS_REPLICAS"]))
        assert spec["restart"] == "on-failure:5", "restarted when it dies, given up on after 5"
    assert services["gateway"]["environment"]["GATEWAY_TOKEN"].startswith("${GATEWAY_TOKEN:?")


def test_compose_gateways_scale_behind_the_proxy_which_alone_is_trusted_for_the_client() -> None:
    document = compose()
    services = document["services"]
    gateway, proxy = services["gateway"], services["proxy"]
    # A fixed host port would stop `--scale gateway=N` at one replica: only the proxy has one.
    assert "ports" not in gateway
    assert gateway["deploy"]["replicas"] >= 2
    assert [p.split(":")[-1] for p in proxy["ports"]] == ["8100"]
    assert "127.0.0.1:8100" in proxy["ports"][0], "loopback unless GATEWAY_PUBLISH says otherwise"
    assert proxy["depends_on"]["gateway"]["condition"] == "service_healthy"
    source, target = proxy["volumes"][0].split(":")[:2]
    assert ROOT / source == DEPLOY / "proxy"
    assert proxy["command"][:3] == ["nginx", "-c", f"{target}/nginx.conf"]
    # The gateways trust X-Forwarded-For from the proxy's fixed address and nothing else.
    address = proxy["networks"]["default"]["ipv4_address"]
    subnet = document["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet)
    assert gateway["environment"]["GATEWAY_TRUSTED_PROXIES"] == address


def test_the_compose_proxy_config_is_valid_nginx(tmp_path: Path) -> None:
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (.ci/run installs Debian's nginx-light)")
    check = subprocess.run(
        [NGINX, "-t", "-c", str(DEPLOY / "proxy" / "nginx.conf"), "-g", f"pid {tmp_path}/pid;"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def test_the_kubernetes_manifests_are_valid_against_the_api_schemas_strictly() -> None:
    documents = manifests()
    assert {d["kind"] for d in documents} >= {"Deployment", "Service", "StatefulSet", "ConfigMap"}
    version = kubernetes_validate.latest_version()
    for document in documents:
        kubernetes_validate.validate(document, version, strict=True)
    # Strict means a misspelt field is refused, so the loop above can fail.
    typo = copy.deepcopy(next(d for d in documents if d["kind"] == "Deployment"))
    typo["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, version, strict=True)


def _container(name: str) -> dict[str, Any]:
    deployment = next(
        d
        for d in manifests()
        if d["kind"] in ("Deployment", "StatefulSet") and d["metadata"]["name"] == name
    )
    return dict(deployment["spec"]["template"]["spec"]["containers"][0])


def test_the_kubernetes_gateway_accepts_its_service_name_and_has_probes() -> None:
    gateway = _container("gateway")
    env = {e["name"]: e for e in gateway["env"]}
    # $(VAR) is expanded by Kubernetes from a variable defined before it.
    names = list(env)
    hosts = env["GATEWAY_ALLOWED_HOSTS"]["value"].split(",")
    assert names.index("POD_NAMESPACE") < names.index("GATEWAY_ALLOWED_HOSTS")
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    service = next(
        d for d in manifests() if d["kind"] == "Service" and d["metadata"]["name"] == "gateway"
    )
    name = service["metadata"]["name"]
    assert {name, f"{name}.$(POD_NAMESPACE).svc.cluster.local", "localhost"} <= set(hosts)
    for probe in ("livenessProbe", "readinessProbe"):
        get = gateway[probe]["httpGet"]
        assert get["path"] in ("/healthz", "/readyz")
        assert {"name": "Host", "value": "localhost"} in get["httpHeaders"]


def _conf_settings(text: str) -> dict[str, str]:
    """The settings of a NATS config that every node shares (names and addresses aside)."""
    keys = ("max_payload", "store_dir", "sync_interval", "name")
    found = {k: m.group(1) for k in keys if (m := re.search(rf"^\s*{k}:\s*(\S+)", text, re.M))}
    found["routes"] = str(len(re.findall(r"nats-route://", text)))
    found["ports"] = ",".join(re.findall(r":(\d{4})\s*$", text, re.M))
    return found


def test_the_kubernetes_nats_runs_the_deploy_config_on_persistent_volumes() -> None:
    nats = next(d for d in manifests() if d["kind"] == "StatefulSet")
    config = next(d for d in manifests() if d["kind"] == "ConfigMap")["data"]["nats.conf"]
    for node in NODES:
        assert _conf_settings(config) == _conf_settings(
            (DEPLOY / "nats" / f"{node}.conf").read_text()
        )
    assert nats["spec"]["replicas"] == 3
    claims = {c["metadata"]["name"] for c in nats["spec"]["volumeClaimTemplates"]}
    mounts = {m["name"]: m["mountPath"] for m in _container("nats")["volumeMounts"]}
    assert mounts["data"] == _conf_settings(config)["store_dir"] and "data" in claims


@pytest.fixture(scope="module")
def cluster_behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One ``make cluster`` behind the compose proxy for the module's tests (a cluster takes
    seconds to start; each test uses its own client addresses, so they share it safely)."""
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (.ci/run installs Debian's nginx-light)")
    tmp_path = tmp_path_factory.mktemp("proxy")
    item, base = launch_cluster(
        tmp_path,
        GATEWAY_TRUSTED_PROXIES="127.0.0.1",
        # Requirements are accepted (a key is set) and then fail at a provider nobody runs:
        # this test is about what reaches the gateways.
        ANTHROPIC_API_KEY="sk-ant-test",
        OPENAI_API_KEY="sk-test",
        ANTHROPIC_BASE_URL="http://127.0.0.1:9",
        OPENAI_BASE_URL="http://127.0.0.1:9",
    )
    try:
        yield from _behind_proxy(tmp_path, item, base)
    finally:
        kill_launched(item)


def _behind_proxy(tmp_path: Path, item: Launched, base: int) -> Iterator[dict[str, Any]]:
    wait_for_output(item, "Orchestrator is up at", timeout=150)
    conf = tmp_path / "proxy"
    shutil.copytree(DEPLOY / "proxy", conf)
    port = free_port()
    (conf / "gateways.conf").write_text(
        f"upstream test_gateways {{ server 127.0.0.1:{base}; server 127.0.0.1:{base + 1}; }}\n"
        'map "" $gateways { default test_gateways; }\n'
    )
    nginx_conf = conf / "nginx.conf"
    nginx_conf.write_text(
        nginx_conf.read_text().replace("listen 8100;", f"listen 127.0.0.1:{port};")
    )
    log = (tmp_path / "proxy.log").open("wb")
    proxy = subprocess.Popen(
        [
            NGINX,
            "-c",
            str(nginx_conf),
            "-p",
            str(conf),
            "-g",
            f"daemon off; pid {conf / 'nginx.pid'};",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def proxy_answers() -> bool:
            assert proxy.poll() is None, (tmp_path / "proxy.log").read_text()
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200

        wait_until(proxy_answers, (tmp_path / "proxy.log").read_text, timeout=15)
        yield {"url": url, "log": tmp_path / "proxy.log", "gateways": {base, base + 1}}
    finally:
        proxy.terminate()
        proxy.wait(10)


def _upstreams(log: Path) -> Counter[int]:
    return Counter(int(p) for p in re.findall(r"upstream=127\.0\.0\.1:(\d+)", log.read_text()))


def test_the_compose_proxy_spreads_requests_and_websockets_over_both_gateways(
    cluster_behind_proxy: dict[str, Any],
) -> None:
    url, log = cluster_behind_proxy["url"], cluster_behind_proxy["log"]
    for _ in range(10):
        reply = httpx.get(f"{url}/api/health", timeout=10)
        assert reply.status_code == 200, reply.text  # the Host the client typed is allowed
        assert reply.json()["services"]["gateway"]["instances"] == 2
    # A WebSocket is upgraded through the proxy, and a requirement sent through it shows up live.
    ws = websocket.create_connection(
        f"{url.replace('http', 'ws')}/ws", timeout=20, suppress_origin=True
    )
    try:
        task = httpx.post(
            f"{url}/api/requirements", json={"requirement": "Print hello"}, timeout=10
        ).json()["task_id"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            frame = json.loads(ws.recv())
            if frame.get("task_id") == task:
                break
        else:
            raise AssertionError("no frame of the task came through the proxy")
    finally:
        ws.close()
    spread = _upstreams(log)
    assert set(spread) == cluster_behind_proxy["gateways"], spread
    assert min(spread.values()) >= 4, f"round robin over both replicas: {spread}"


def test_through_the_proxy_each_client_has_its_own_limit_whatever_it_forwards(
    cluster_behind_proxy: dict[str, Any],
) -> None:
    url = cluster_behind_proxy["url"]

    def submit(source: str, n: int) -> int:
        # Each request names a new X-Forwarded-For: the proxy replaces it with the address
        # that connected, and a gateway takes the last address that is not a trusted proxy's
        # anyway, so a client cannot pick a fresh limit per request.
        transport = httpx.HTTPTransport(local_address=source)
        with httpx.Client(transport=transport, timeout=10) as client:
            reply = client.post(
                f"{url}/api/requirements",
                json={"requirement": f"Print {n}"},
                headers={"X-Forwarded-For": f"203.0.113.{n}"},
            )
        assert reply.status_code in (200, 429), reply.text
        return reply.status_code

    within_one_minute()  # all 11 in one minute of the windows: past its end the count fades
    first = Counter(submit("127.0.0.2", n) for n in range(11))
    assert first == {200: 10, 429: 1}, first
    assert submit("127.0.0.3", 99) == 200, "another client is not limited by the first"
    assert set(_upstreams(cluster_behind_proxy["log"])) == cluster_behind_proxy["gateways"]
