"""The API-key check of the reasoner: named keys in Secrets Manager and an nginx sidecar that checks them.

The NIM has no authentication of its own. nginx (the official image from ECR Public, pinned) runs
next to it in the same ECS task: the load balancer reaches only nginx, nginx reaches the NIM on
localhost. The keys reach nginx alone, as the container's ECS `secrets` at task start; nothing that
a load balancer, template, snapshot or log shows contains them. See docs/architecture.md ("API keys")
for why a sidecar rather than ALB rules, a separate proxy service or API Gateway.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks.nag import acknowledge

PROXY_DIR = Path(__file__).resolve().parent.parent / "proxy"
TEMPLATE_PATH = PROXY_DIR / "default.conf.template"
START_SCRIPT_PATH = PROXY_DIR / "start.sh"

# nginx's stable line, official image (github.com/nginx/docker-nginx stable/debian/Dockerfile:
# NGINX_VERSION 1.30.0), mirrored by NGINX on ECR Public (gallery.ecr.aws/nginx/nginx). ECR Public
# needs no registry credentials and is reachable through the NAT gateway. Public repositories pull
# this repository by version tag (e.g. :1.28.0); ECR Public itself was not reachable where this was
# written, so the 1.30.0 tag is confirmed by the first deploy (a missing tag stops the task with
# CannotPullContainerError; the deployment circuit breaker then rolls back).
IMAGE = "public.ecr.aws/nginx/nginx:1.30.0"
PROXY_PORT = 8080
PROXY_CONTAINER = "KeyProxy"
# The image renders /etc/nginx/templates/*.template with envsubst at start; only $PROXY_* names
# are replaced (NGINX_ENVSUBST_FILTER), so nginx's own $variables in the template stay intact.
ENVSUBST_FILTER = "^PROXY_"
KEYS_FILE = "/etc/nginx/keys.map"
# Name of the key the stack generates, and the one `cosmosctl endpoint --env` picks first.
DEFAULT_KEY_NAME = "default"
KEY_LENGTH = 64
# vLLM closes idle HTTP connections after VLLM_HTTP_TIMEOUT_KEEP_ALIVE = 5 s by default
# (vllm-project/vllm vllm/envs.py); nginx drops its idle upstream connections a second earlier.
VLLM_KEEP_ALIVE_S = 5
UPSTREAM_KEEPALIVE_S = VLLM_KEEP_ALIVE_S - 1
# nginx's own keep-alive toward the ALB outlasts the ALB's idle timeout by this much.
CLIENT_KEEPALIVE_MARGIN_S = 60
# Request body cap. cosmosctl refuses requests over 20 MiB by default (--max-payload-mib); a
# base64 data URI is 4/3 of the file, so 64 MiB takes a ~45 MiB video clip plus text.
MAX_BODY_MIB = 64
# nginx needs little: a few MiB per connection at most with proxy buffering off.
CPU_UNITS = 256
MEMORY_RESERVATION_MIB = 256


@dataclass(frozen=True)
class ProxySettings:
    """What the template's $PROXY_* placeholders become; derived from the ALB's idle timeout."""

    port: int
    upstream_port: int
    idle_timeout_seconds: int
    max_body_mib: int = MAX_BODY_MIB
    keys_file: str = KEYS_FILE
    access_log: str = "/dev/stdout"

    @property
    def client_keepalive_seconds(self) -> int:
        return self.idle_timeout_seconds + CLIENT_KEEPALIVE_MARGIN_S

    def environment(self) -> dict[str, str]:
        """The container environment the template is rendered with (no secret in it)."""
        return {
            "PROXY_PORT": str(self.port),
            "PROXY_UPSTREAM_PORT": str(self.upstream_port),
            "PROXY_UPSTREAM_KEEPALIVE": f"{UPSTREAM_KEEPALIVE_S}s",
            "PROXY_CLIENT_KEEPALIVE": f"{self.client_keepalive_seconds}s",
            # Reads and writes may pause as long as the ALB lets a connection idle.
            "PROXY_TIMEOUT": f"{self.idle_timeout_seconds}s",
            "PROXY_MAX_BODY": f"{self.max_body_mib}m",
            "PROXY_MAX_BODY_MIB": str(self.max_body_mib),
            "PROXY_KEYS_FILE": self.keys_file,
            "PROXY_ACCESS_LOG": self.access_log,
        }


class KeyProxy(Construct):
    """Named API keys (one secret) and the nginx container that checks them, added to `task_definition`.

    The secret is a JSON object `{"<name>": "<value>", ...}`; the stack generates `{"default": ...}`
    and `cosmosctl endpoint keys add|rotate|revoke` edits it and rolls the service so new tasks
    read it (ECS resolves `secrets` only when a task starts).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        task_definition: ecs.TaskDefinition,
        log_group: logs.ILogGroup,
        upstream_port: int,
        idle_timeout_seconds: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = ProxySettings(
            port=PROXY_PORT, upstream_port=upstream_port, idle_timeout_seconds=idle_timeout_seconds
        )
        self.port = PROXY_PORT
        self.api_keys = secretsmanager.Secret(
            self,
            "ApiKeys",
            description=(
                'Named API keys of the Cosmos 3 reasoner endpoint, {"<name>": "<value>"}: send '
                "'Authorization: Bearer <value>'. Manage with `cosmosctl endpoint keys`."
            ),
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template="{}",
                generate_string_key=DEFAULT_KEY_NAME,
                password_length=KEY_LENGTH,
                exclude_punctuation=True,
                include_space=False,
            ),
        )
        acknowledge(
            self.api_keys,
            "AwsSolutions-SMG4",
            "API keys are handed out to people and rotated on purpose with `cosmosctl endpoint keys "
            "rotate`, which keeps the old key valid until tasks with the new one are serving; a "
            "scheduled Secrets Manager rotation would silently invalidate keys that clients hold.",
        )

        self.container = task_definition.add_container(
            PROXY_CONTAINER,
            image=ecs.ContainerImage.from_registry(IMAGE),
            essential=True,
            cpu=CPU_UNITS,
            memory_reservation_mib=MEMORY_RESERVATION_MIB,
            # The official image's entrypoint renders the template, then starts nginx; start.sh puts
            # the template and the keys in place first (see its header).
            command=[
                "sh",
                "-c",
                START_SCRIPT_PATH.read_text(),
                "start.sh",
                "/docker-entrypoint.sh",
                "nginx",
                "-g",
                "daemon off;",
            ],
            environment={
                **self.settings.environment(),
                "KEY_PROXY_TEMPLATE": TEMPLATE_PATH.read_text(),
                "NGINX_ENVSUBST_FILTER": ENVSUBST_FILTER,
            },
            # The whole JSON secret, resolved by ECS at task start; only this container gets it.
            secrets={"API_KEYS": ecs.Secret.from_secrets_manager(self.api_keys)},
            port_mappings=[ecs.PortMapping(container_port=PROXY_PORT, protocol=ecs.Protocol.TCP)],
            logging=ecs.LogDrivers.aws_logs(stream_prefix="proxy", log_group=log_group),
            # nginx finishes in-flight requests on SIGQUIT; ECS sends SIGTERM (fast shutdown) only
            # after the target has drained for the deregistration delay.
            stop_timeout=Duration.seconds(30),
        )
