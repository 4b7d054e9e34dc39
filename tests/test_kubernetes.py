"""mode: kubernetes, WITHOUT a cluster: no Kubernetes cluster runs here and no pod is started.

The real KubeSpawner builds, from hub/jupyterhub_config.py's configuration, every manifest it
would send to the API server for a student, a facilitator and the GPU and MIG profiles; each is
checked against the Kubernetes API's own schema (kubernetes-validate, strict: unknown fields are
errors) for the oldest and newest API versions in play. `hepcourse k8s values` is checked
against zero-to-jupyterhub's values schema (tests/data/z2jh-4.4.0), as helm checks it.
"""

import asyncio
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import kubernetes_validate
import pytest
import yaml
from support import disk_tree, load_hub_config, run_cli
from traitlets.config import Config

from hepcourse.config import ConfigError, check_mode_tools, load_settings
from hepcourse.errors import UserError
from hepcourse.homes import homes
from hepcourse.kubernetes import CHART_VERSION
from hepcourse.uids import uid_of

# The oldest API the chart supports (its kubeVersion: >=1.28) and the newest the validator has.
K8S_VERSIONS = ["1.28.0", "1.37.0"]
Z2JH = Path(__file__).parent / "data" / f"z2jh-{CHART_VERSION}"
GIB = 2**30
KUBERNETES = "mode: kubernetes\nkubernetes: {storage_class: fast-ssd}\n"


@pytest.fixture
def no_cluster(monkeypatch, tmp_path):
    """A kubeconfig naming a port nothing listens on: KubeSpawner loads it as it would a real
    one, and any request it made would fail the test."""
    from kubernetes_asyncio.config import kube_config
    from kubespawner.clients import load_config

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "none",
        "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "none", "user": {}}],
        "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
    }))
    # $KUBECONFIG, as the client read it when it was imported.
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)   # never the in-cluster config
    load_config.cache_clear()
    yield
    load_config.cache_clear()


def manifests(config, user: str, profile: str | None = None, groups: tuple[str, ...] = ()) -> dict:
    """The pod and home claim manifests KubeSpawner would send for ``user`` (in JupyterHub's
    ``groups``, and the profile they picked), serialized as its API client sends them, and their
    namespace."""
    from jupyterhub.objects import Hub
    from kubespawner import KubeSpawner

    async def build():
        hub = Hub(ip=config.JupyterHub.hub_ip, port=config.JupyterHub.hub_port, base_url="/hub/",
                  connect_ip=config.JupyterHub.hub_connect_ip)
        spawner = KubeSpawner(config=config, hub=hub, user=SimpleNamespace(
            name=user, id=1, url=f"/user/{user}/", groups=[SimpleNamespace(name=g) for g in groups]))
        spawner.user_options = {"profile": profile} if profile else {}
        await spawner.load_user_options()
        serialize = spawner.api.api_client.sanitize_for_serialization
        return {"pod": serialize(await spawner.get_pod_manifest()), "pvc": serialize(spawner.get_pvc_manifest()),
                "namespace": spawner.namespace}   # the pod and the claim are sent into it

    return asyncio.run(build())


def validated(built: dict) -> dict:
    for manifest in (built["pod"], built["pvc"]):
        for version in K8S_VERSIONS:
            kubernetes_validate.validate(manifest, version, strict=True)
    return built


def container(pod: dict) -> dict:
    (notebook,) = pod["spec"]["containers"]
    return notebook


def mounts(pod: dict) -> dict:
    claims = {v["name"]: v["persistentVolumeClaim"] for v in pod["spec"]["volumes"]}
    return {m["mountPath"]: {**m, "claim": claims[m["name"]]} for m in container(pod)["volumeMounts"]}


def test_hub_config_in_kubernetes_mode_touches_no_cluster_and_no_disk(monkeypatch, write, tmp_path):
    c = load_hub_config(monkeypatch, write, KUBERNETES)
    assert c.JupyterHub.spawner_class == "kubespawner.KubeSpawner"
    # Pods call the hub's API through its Service, on the stable API port.
    assert (c.JupyterHub.hub_ip, c.JupyterHub.hub_connect_ip, c.JupyterHub.hub_port) == ("0.0.0.0", "hub", 8081)
    assert c.JupyterHub.active_server_limit == 0            # the cluster queues what it cannot hold
    assert "--timeout=3600" in {s["name"]: s for s in c.JupyterHub.services}["idle-culler"]["command"]
    assert c.Spawner.environment["HEPCOURSE_EXCHANGE"] == "/srv/nbgrader/exchange"
    before = disk_tree(tmp_path)
    load_hub_config(monkeypatch, write, KUBERNETES, prepared=False)
    assert disk_tree(tmp_path) == before


def test_student_pod_manifest_without_cluster(monkeypatch, write, no_cluster):
    c = load_hub_config(monkeypatch, write, KUBERNETES)
    built = validated(manifests(c, "alice"))
    pod, notebook = built["pod"], container(built["pod"])
    assert notebook["image"] == "localhost/hepcourse/singleuser-cpu:latest"
    assert notebook["args"] == ["python3", "-m", "hepcourse.singleuser"]
    assert "nvidia.com/gpu" not in notebook["resources"]["limits"]          # the CPU profile: the default
    assert notebook["resources"]["limits"]["memory"] == 8 * GIB and notebook["resources"]["requests"]["memory"] == 2 * GIB
    assert notebook["securityContext"] == {
        "runAsUser": uid_of("alice", load_settings()["hub"]["state_dir"]), "runAsGroup": 1000, "runAsNonRoot": True, "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    assert pod["spec"]["securityContext"] == {"fsGroup": 1000}
    mounted = mounts(pod)
    assert mounted["/home/jovyan"]["claim"] == {"claimName": "hepcourse-home-alice"}
    data = mounted["/srv/hepcourse/data"]
    assert data["readOnly"] is True and data["claim"] == {"claimName": "hepcourse-datasets", "readOnly": True}
    exchange = mounted["/srv/nbgrader/exchange"]
    assert exchange["claim"] == {"claimName": "hepcourse-exchange"} and not exchange.get("readOnly")
    env = {e["name"]: e.get("value") for e in notebook["env"]}
    assert env["HEPCOURSE_DATA_DIR"] == "/srv/hepcourse/data" and env["HEPCOURSE_EXCHANGE"] == "/srv/nbgrader/exchange"
    assert env["JUPYTERHUB_API_URL"] == "http://hub:8081/hub/api"
    assert env["HEPCOURSE_SOLUTIONS"] == ""                                  # a student gets the scaffolds
    pvc = built["pvc"]
    assert pvc["metadata"]["name"] == "hepcourse-home-alice"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "10Gi" and pvc["spec"]["storageClassName"] == "fast-ssd"
    # The validator is strict: a misspelt field is an error, not silently dropped.
    with pytest.raises(kubernetes_validate.ValidationError, match="securityContxt"):
        kubernetes_validate.validate({**pod, "spec": {**pod["spec"], "securityContxt": {}}}, K8S_VERSIONS[-1], strict=True)


def test_facilitator_pod_manifest_without_cluster(monkeypatch, write, no_cluster):
    c = load_hub_config(monkeypatch, write, KUBERNETES)
    graders = f"formgrade-{load_settings()['course']['id']}"
    built = validated(manifests(c, "ta", groups=(graders,)))
    assert built["pvc"]["metadata"]["name"] == "hepcourse-home-ta"           # a home of their own
    assert mounts(built["pod"])["/home/jovyan"]["claim"] == {"claimName": "hepcourse-home-ta"}
    # A uid of their own, not root's or a student's: the exchange tells their files apart.
    state = load_settings()["hub"]["state_dir"]
    assert container(built["pod"])["securityContext"]["runAsUser"] == uid_of("ta", state) != uid_of("alice", state)
    assert built["pod"]["metadata"]["labels"]["hub.jupyter.org/username"] == "ta"
    env = {e["name"]: e.get("value") for e in container(built["pod"])["env"]}
    assert env["HEPCOURSE_SOLUTIONS"] == "1"                                 # staff get the worked answers


def test_gpu_profile_manifest_without_cluster(monkeypatch, write, no_cluster):
    c = load_hub_config(monkeypatch, write, KUBERNETES)
    pod = validated(manifests(c, "alice", profile="gpu"))["pod"]
    notebook = container(pod)
    assert notebook["image"] == "localhost/hepcourse/singleuser-cuda:latest"
    assert notebook["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert notebook["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["spec"]["tolerations"]


def test_mig_profile_manifest_without_cluster(monkeypatch, write, no_cluster):
    c = load_hub_config(monkeypatch, write, KUBERNETES)
    notebook = container(validated(manifests(c, "alice", profile="gpu-slice"))["pod"])
    assert notebook["resources"]["limits"]["nvidia.com/mig-1g.10gb"] == "1"
    assert "nvidia.com/gpu" not in notebook["resources"]["limits"]             # a slice, not the whole GPU
    assert notebook["image"] == "localhost/hepcourse/singleuser-cuda:latest"


def test_profiles_from_settings_manifest_without_cluster(monkeypatch, write, no_cluster):
    c = load_hub_config(monkeypatch, write, "mode: kubernetes\nkubernetes:\n  namespace: mlhep\n  profiles:\n"
                                            "    - {name: Small}\n"
                                            "    - {name: Two GPUs, gpus: 2, memory: 32G, cpu: 8}\n")
    small = validated(manifests(c, "alice"))
    assert container(small["pod"])["resources"]["limits"] == {"cpu": 4.0, "memory": 8 * GIB}
    assert small["namespace"] == "mlhep"
    big = container(validated(manifests(c, "alice", profile="two-gpus"))["pod"])
    assert big["resources"]["limits"] == {"cpu": 8.0, "memory": 32 * GIB, "nvidia.com/gpu": "2"}


@pytest.mark.parametrize("text, expected", [
    ("kubernetes: {profiles: [{name: CPU, gpus: -1}]}\n", "kubernetes.profiles.0.gpus: -1 is less than the minimum of 0"),
    ("kubernetes: {profiles: [{name: CPU}, {name: Big, memory: 16GB}]}\n",
     "kubernetes.profiles.1.memory: '16GB' is not allowed: Memory limit of this profile's servers"),
    ("kubernetes: {profiles: [{name: A100, gpus: 1, mig: nvidia.com/gpu}]}\n",
     "kubernetes.profiles.0.mig: 'nvidia.com/gpu' is not allowed: Ask for MIG slices"),
    ("kubernetes: {profiles: [{gpus: 1}]}\n", "kubernetes.profiles.0: 'name' is a required property"),
    ("kubernetes: {profiles: []}\n", "kubernetes.profiles: [] should be non-empty"),
    ("kubernetes: {mem_limit: 8GB}\n", "kubernetes.mem_limit: '8GB' is not allowed: A size in bytes"),
    ("kubernetes: {datasets_claim: Course_Data}\n",
     "kubernetes.datasets_claim: 'Course_Data' is not allowed: Name of an existing claim (lower-case"),
    ("kubernetes: {gpu: 1}\n",
     "kubernetes: Additional properties are not allowed ('gpu' was unexpected); known keys: cpu_guarantee, cpu_limit"),
])
def test_bad_kubernetes_settings_say_where_and_what(write, text, expected):
    path = write("settings.yaml", "mode: kubernetes\n" + text)
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert f"{path}: {expected}" in str(err.value)


def test_kubernetes_mode_wants_a_cluster_to_talk_to(write, tmp_path):
    settings = load_settings(write("settings.yaml", "mode: kubernetes\n"), env={})
    with pytest.raises(ConfigError, match="mode: kubernetes needs a cluster: run the hub in a pod"):
        check_mode_tools(settings, env={"HOME": str(tmp_path)})
    check_mode_tools(settings, env={"KUBERNETES_SERVICE_HOST": "10.0.0.1"})                  # in a pod
    check_mode_tools(settings, env={"KUBECONFIG": str(write("kubeconfig", "apiVersion: v1\n"))})
    with pytest.raises(UserError, match="the homes are the cluster's volume claims"):
        homes(settings, ["alice"])


def chart_values(text: str) -> dict:
    """Helm's view of the values: the chart's defaults with these over them (helm's coalesce:
    maps merge, anything else replaces, null removes the key)."""
    def coalesce(base: dict, top: dict) -> dict:
        merged = dict(base)
        for key, value in top.items():
            if value is None:
                merged.pop(key, None)
            elif isinstance(value, dict) and isinstance(base.get(key), dict):
                merged[key] = coalesce(base[key], value)
            else:
                merged[key] = value
        return merged

    return coalesce(yaml.safe_load((Z2JH / "values.yaml").read_text()), yaml.safe_load(text))


def test_k8s_values_fit_the_chart_and_carry_the_same_servers(monkeypatch, write, tmp_path):
    c = load_hub_config(monkeypatch, write, KUBERNETES + "auth: {password: course-pass, admin_password: " + "x" * 32 + "}\n"
                        "hub: {state_dir: state, idle_timeout: 1200, config: {KubeSpawner: {start_timeout: 600}}}\n")
    out = tmp_path / "values.yaml"
    result = run_cli("hepcourse", "k8s", "values", "--settings", str(tmp_path / "settings.yaml"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert oct(out.stat().st_mode & 0o777) == "0o600"                  # it holds the shared passwords
    schema = yaml.safe_load((Z2JH / "values.schema.yaml").read_text())
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
              for e in jsonschema.Draft7Validator(schema).iter_errors(chart_values(out.read_text()))]
    assert not errors
    values = yaml.safe_load(out.read_text())
    single = values["singleuser"]
    assert single["image"] == {"name": "localhost/hepcourse/singleuser-cpu", "tag": "latest"}
    assert (single["uid"], single["fsGid"], single["allowPrivilegeEscalation"]) == (1000, 1000, False)
    assert single["storage"]["capacity"] == "10Gi" and single["storage"]["dynamic"]["storageClass"] == "fast-ssd"
    assert single["storage"]["extraVolumeMounts"] == [
        {"name": "datasets", "mountPath": "/srv/hepcourse/data", "readOnly": True},
        {"name": "exchange", "mountPath": "/srv/nbgrader/exchange"}]
    assert values["cull"] == {"enabled": True, "timeout": 1200, "every": 120}
    assert values["hub"]["db"] == {"type": "sqlite-pvc"}
    config = values["hub"]["config"]
    assert config["Authenticator"]["allowed_users"] == ["alice", "prof", "ta"]   # the roster, not the chart's dummy
    assert config["JupyterHub"]["authenticator_class"] == "shared-password"
    assert config["KubeSpawner"]["start_timeout"] == 600                         # settings' hub.config last
    # The same servers as the course's own hub in kubernetes mode: the fixed environment, and
    # the staff's worked answers by their group, which the chart's hub loads from the roster.
    per_user = {name: value for name, value in c.Spawner.environment.items() if callable(value)}
    assert single["extraEnv"] == {name: value for name, value in c.Spawner.environment.items() if name not in per_user}
    graders = f"formgrade-{load_settings()['course']['id']}"
    assert config["JupyterHub"]["load_groups"][graders] == ["prof", "ta"]
    chart = Config()
    chart.KubeSpawner.environment = dict(single["extraEnv"])
    exec(values["hub"]["extraConfig"]["hepcourse"], {"c": chart})   # as the chart's hub runs it  # noqa: S102
    for name, rule in per_user.items():
        for groups in ([], [graders], ["instructors"]):
            spawner = SimpleNamespace(user=SimpleNamespace(groups=[SimpleNamespace(name=g) for g in groups]))
            assert chart.KubeSpawner.environment[name](spawner) == rule(spawner)
    assert single["profileList"] == c.KubeSpawner.profile_list
    assert config["KubeSpawner"]["container_security_context"] == c.KubeSpawner.container_security_context
    assert single["profileList"][1]["kubespawner_override"]["extra_resource_limits"] == {"nvidia.com/gpu": "1"}


def test_k8s_values_mistakes_are_clear(write, tmp_path):
    roster = write("roster.yaml", "instructors: [prof]\nfacilitators: []\nstudents: [alice]\n")
    open_hub = write("open.yaml", f"mode: kubernetes\nroster: {roster}\n")
    result = run_cli("hepcourse", "k8s", "values", "--settings", str(open_hub))
    assert result.returncode == 2 and "Traceback" not in result.stderr and not result.stdout
    assert f"{open_hub}: auth.password: the chart's hub has no state folder" in result.stderr
    bad = write("bad.yaml", f"roster: {roster}\nkubernetes: {{profiles: [{{name: GPU, gpus: -1}}]}}\n")
    result = run_cli("hepcourse", "k8s", "values", "--settings", str(bad))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{bad}: kubernetes.profiles.0.gpus: -1 is less than the minimum of 0" in result.stderr
    good = write("good.yaml", f"roster: {roster}\nauth: {{class: nativeauthenticator.NativeAuthenticator}}\n")
    nowhere = tmp_path / "no" / "values.yaml"
    result = run_cli("hepcourse", "k8s", "values", "--settings", str(good), "-o", str(nowhere))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{nowhere}: cannot write (No such file or directory)" in result.stderr
