"""What a Swarm stack file cannot carry as Compose wrote it: each key of a service
that `docker stack deploy` refuses or ignores, why, and what to do instead.
The render (swarm/render.py) drops or rewrites these, saying so in its notes;
the lint (lint/swarm_rules.py) reports them for a swarm environment.

Measured against the docker CLI's own stack loader (CLI 28.2, compose file
format 3.13), which `docker stack config -c FILE` runs without a swarm.
REJECTED: the loader refuses the file ("Additional property ... is not
allowed", "must be a list"). IGNORED: it takes the key and Swarm never sees
it: `docker stack deploy` says "Ignoring unsupported options" (the CLI's
UnsupportedProperties) or "Ignoring deprecated options" (container_name,
expose), or nothing at all (depends_on as a list, tmpfs, bind.create_host_path,
tmpfs.mode: the schema takes them, the converter to a service spec never reads
them)."""

from __future__ import annotations

from dataclasses import dataclass

REJECTED = "rejected"
IGNORED = "ignored"


@dataclass(frozen=True)
class Key:
    """A key Swarm cannot take as it is (`path`: "shm_size", "ports.host_ip", ...)."""

    path: str
    fate: str  # REJECTED or IGNORED
    reason: str  # why Swarm cannot honour it
    instead: str  # what to do instead, or what stackyard does with it
    #: stackyard's render carries it over another way (`instead` says how): nothing to do
    #: but know it; otherwise what the service asks for is lost on Swarm.
    rewritten: bool = False

    def says(self) -> str:
        """The key, what Swarm does with it, why, and what to do."""
        verb = "refuses" if self.fate == REJECTED else "ignores"
        return f"{self.path}: Swarm {verb} it ({self.reason}); {self.instead}"


#: Service keys the stack loader takes and Swarm honours: carried over as Compose rendered them.
KEPT = frozenset(
    {
        "cap_add",
        "cap_drop",
        "command",
        "configs",
        "credential_spec",
        "dns",
        "dns_search",
        "entrypoint",
        "env_file",
        "environment",
        "extra_hosts",
        "healthcheck",
        "hostname",
        "image",
        "init",
        "isolation",
        "labels",
        "logging",
        "oom_score_adj",
        "read_only",
        "secrets",
        "stdin_open",
        "stop_grace_period",
        "stop_signal",
        "sysctls",
        "tty",
        "ulimits",
        "user",
        "working_dir",
    }
)
#: What a service's network entry may hold in a stack file.
NETWORK_KEYS = frozenset({"aliases", "ipv4_address", "ipv6_address", "driver_opts"})
#: What `deploy:` may hold in a stack file.
DEPLOY_KEYS = frozenset(
    {
        "mode",
        "replicas",
        "labels",
        "update_config",
        "rollback_config",
        "resources",
        "restart_policy",
        "placement",
        "endpoint_mode",
    }
)
RESOURCES = "set deploy.resources instead"
#: A published port's host_ip that binds every address, as Swarm does anyway.
ANY_ADDRESS = ("", "0.0.0.0", "::")
#: The only mode a stack file's tmpfs mount has.
TMPFS_MODE = "1777"

_TABLE = [
    # Carried over by the render: nothing is lost.
    Key(
        "build",
        IGNORED,
        "Swarm runs images, it never builds one",
        "stackyard builds and tags the image before the deploy, and drops build",
        rewritten=True,
    ),
    Key(
        "depends_on",
        REJECTED,
        "Swarm starts every service at once and restarts those that fail: there is no start order, and no condition",
        "the app must wait for its dependencies itself (retry at start); stackyard runs the migration as a job "
        "before the update, and drops depends_on",
        rewritten=True,
    ),
    Key(
        "restart",
        IGNORED,
        "a Swarm service restarts by deploy.restart_policy",
        "stackyard sets deploy.restart_policy from it (always, unless-stopped: any; on-failure; no: none; "
        "the migration job: none)",
        rewritten=True,
    ),
    Key(
        "profiles",
        REJECTED,
        "a stack file has no profiles",
        "Compose applies the environment's profiles before the render, which drops the key",
        rewritten=True,
    ),
    Key(
        "container_name",
        IGNORED,
        "Swarm names a service's tasks, one per replica",
        "reach it by its service name; dropped",
        rewritten=True,
    ),
    Key(
        "expose",
        IGNORED,
        "a service reaches every port of another on a network they share",
        "nothing to do; dropped",
        rewritten=True,
    ),
    Key(
        "links",
        IGNORED,
        "services find each other by name on a network they share",
        "use the service's name; dropped",
        rewritten=True,
    ),
    Key(
        "pull_policy",
        REJECTED,
        "each node resolves the image by its reference",
        "stackyard builds the image and ships it to the nodes, or they pull it from your registry; dropped",
        rewritten=True,
    ),
    Key(
        "develop",
        REJECTED,
        "`compose watch` is a development tool",
        "develop in an environment run by Compose; dropped",
        rewritten=True,
    ),
    Key(
        "tmpfs",
        IGNORED,
        "the stack loader takes it and never passes it on: the task gets no tmpfs, and a read-only one has "
        "nowhere to write",
        "stackyard rewrites each entry as a `type: tmpfs` mount of the same size (mode 1777)",
        rewritten=True,
    ),
    Key(
        "shm_size",
        IGNORED,
        "Swarm sets no size for /dev/shm",
        "stackyard mounts a tmpfs of that size on /dev/shm",
        rewritten=True,
    ),
    Key(
        "mem_limit",
        REJECTED,
        "a stack file sets resources under deploy",
        "stackyard moves it to deploy.resources.limits.memory",
        rewritten=True,
    ),
    Key(
        "cpus",
        REJECTED,
        "a stack file sets resources under deploy",
        "stackyard moves it to deploy.resources.limits.cpus",
        rewritten=True,
    ),
    Key(
        "pids_limit",
        REJECTED,
        "a stack file sets resources under deploy",
        "stackyard moves it to deploy.resources.limits.pids",
        rewritten=True,
    ),
    Key(
        "mem_reservation",
        REJECTED,
        "a stack file sets resources under deploy",
        "stackyard moves it to deploy.resources.reservations.memory",
        rewritten=True,
    ),
    Key(
        "scale",
        REJECTED,
        "a stack file sets replicas under deploy",
        "stackyard moves it to deploy.replicas",
        rewritten=True,
    ),
    Key(
        "ports.host_ip",
        REJECTED,
        "Swarm publishes a port on every address of the node that runs the task",
        "stackyard drops host_ip: firewall the port, or publish ports from the proxy only",
        rewritten=True,
    ),
    Key("ports.name", REJECTED, "a port's name is Compose's own", "dropped", rewritten=True),
    Key("ports.app_protocol", REJECTED, "a port's application protocol is Compose's own", "dropped", rewritten=True),
    Key(
        "volumes.bind.create_host_path",
        IGNORED,
        "Swarm never creates a bind mount's host path: a task fails on a node that lacks it",
        "create the path on every node the service may run on (better: bake the files into the image); dropped",
        rewritten=True,
    ),
    # Lost on Swarm: the service asks for something no stack file can give.
    Key(
        "network_mode",
        IGNORED,
        "a task joins the stack's overlay networks, in no other network mode",
        "use networks:; for the host's network stack, attach the external network `host`",
    ),
    Key(
        "privileged",
        IGNORED,
        "Swarm runs no privileged task",
        "add back only the capabilities it needs with cap_add (Swarm honours it), or run it outside the stack",
    ),
    Key(
        "security_opt",
        IGNORED,
        "a stack file sets no security option: no-new-privileges, seccomp and AppArmor stay the engine's defaults",
        "run it as a non-root user with cap_drop: [ALL] and a read-only root filesystem, so that an "
        "escalation gains no capability; leave security_opt out of this environment",
    ),
    Key(
        "devices",
        IGNORED,
        "Swarm maps no host device into a task",
        "run it outside the stack (Compose on that host), or reserve GPUs as generic resources",
    ),
    Key(
        "cgroup_parent",
        IGNORED,
        "Swarm places tasks in cgroups of its own",
        "leave it out of this environment",
    ),
    Key(
        "cgroupns_mode",
        IGNORED,
        "Swarm sets a task's cgroup namespace itself",
        "leave it out of this environment",
    ),
    Key(
        "userns_mode",
        IGNORED,
        "user namespaces are set per engine, not per service",
        "enable userns-remap in each node's daemon.json",
    ),
    Key(
        "pid",
        IGNORED,
        "a task cannot share the host's or another container's process namespace",
        "run it outside the stack",
    ),
    Key(
        "ipc",
        IGNORED,
        "a task cannot share the host's or another container's IPC namespace",
        "share data through a volume or the network, or run it outside the stack",
    ),
    Key("mac_address", IGNORED, "Swarm assigns a task's addresses", "leave it out of this environment"),
    Key(
        "domainname",
        IGNORED,
        "a task has no domain name of its own",
        "use hostname: (Swarm takes it, with templates such as {{.Task.Slot}})",
    ),
    Key(
        "external_links",
        IGNORED,
        "a task reaches only what is on its networks",
        "attach the service to an external network the other container is on",
    ),
    Key(
        "platform",
        REJECTED,
        "each node runs the image's variant for its own platform",
        "constrain placement with node.platform.arch / node.platform.os",
    ),
    Key(
        "group_add",
        REJECTED,
        "a stack file adds no supplementary group",
        "give the image's user the groups it needs, or set `user: uid:gid`",
    ),
    Key("mem_swappiness", REJECTED, "a stack file sets resources under deploy.resources only", RESOURCES),
    Key("memswap_limit", REJECTED, "a stack file sets resources under deploy.resources only", RESOURCES),
    Key("cpu_shares", REJECTED, "a stack file sets resources under deploy.resources only", RESOURCES),
    Key("cpu_quota", REJECTED, "a stack file sets resources under deploy.resources only", RESOURCES),
    Key("cpuset", REJECTED, "a stack file sets resources under deploy.resources only", RESOURCES),
    Key(
        "volumes_from",
        REJECTED,
        "tasks of different services share no container's volumes",
        "mount the same named volume in each service",
    ),
    Key(
        "tmpfs.options",
        IGNORED,
        "a stack file's tmpfs mount takes a size only (mode 1777, owned by root)",
        "let the image create the directory with the owner it needs, or mount a volume there",
    ),
    Key(
        "volumes.tmpfs.mode",
        IGNORED,
        "a stack file's tmpfs mount takes a size only (mode 1777)",
        "leave the mode at 1777, or mount a volume there",
    ),
    Key(
        "volumes.bind.selinux",
        IGNORED,
        "Swarm does not relabel a bind mount's host path",
        "label the path on each node yourself (chcon), or bake the files into the image",
    ),
    Key(
        "networks.options",
        REJECTED,
        "a service's network entry in a stack file takes aliases, ipv4_address, ipv6_address and driver_opts only",
        "leave the rest out of this environment",
    ),
    Key(
        "deploy.resources.reservations.devices",
        REJECTED,
        "a stack file reserves devices only as generic resources",
        "advertise the GPUs as the node's generic resources (daemon.json) and reserve them with "
        "deploy.resources.reservations.generic_resources",
    ),
]
KEYS: dict[str, Key] = {k.path: k for k in _TABLE}


def lookup(path: str) -> Key:
    """The table's entry for `path`; a key it does not name is one the stack file format
    does not have (the loader refuses it)."""
    if path in KEYS:
        return KEYS[path]
    return Key(
        path,
        REJECTED,
        "not in the stack file format (compose 3.13), so `docker stack deploy` refuses the file",
        "leave it out of this environment's compose files",
    )
