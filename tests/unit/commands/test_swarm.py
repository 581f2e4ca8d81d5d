"""commands/swarm.py: the argv of every swarm, node and stack call."""

from __future__ import annotations

import pathlib

from stackyard.commands import swarm


def test_init_and_join_token():
    assert swarm.init().argv == ("docker", "swarm", "init")
    assert swarm.init("10.0.0.5").argv == ("docker", "swarm", "init", "--advertise-addr", "10.0.0.5")
    assert swarm.join_token().argv == ("docker", "swarm", "join-token", "--quiet", "worker")


def test_node_labels_are_added_one_flag_each():
    cmd = swarm.label_node("n1", {"dev.stackyard.db": "true", "dev.stackyard.caddy": "true"})
    assert cmd.argv == (
        "docker", "node", "update", "--label-add=dev.stackyard.db=true", "--label-add=dev.stackyard.caddy=true", "n1"
    )  # fmt: skip


def test_deploy_asks_no_registry_prunes_and_returns_at_once():
    cmd = swarm.deploy("shop-swarm", pathlib.Path("/tmp/x/shop.stack.json"))
    assert cmd.argv == (
        "docker", "stack", "deploy", "--compose-file", "/tmp/x/shop.stack.json", "--prune",
        "--resolve-image", "never", "--detach=true", "shop-swarm",
    )  # fmt: skip


def test_remove_and_service_logs():
    assert swarm.remove("shop-swarm").argv == ("docker", "stack", "rm", "shop-swarm")
    assert swarm.service_logs("shop-swarm_api").argv == ("docker", "service", "logs", "--timestamps", "shop-swarm_api")
    assert swarm.service_logs("s", follow=True, tail=10, since="5m").argv == (
        "docker", "service", "logs", "--timestamps", "--follow", "--tail", "10", "--since", "5m", "s"
    )  # fmt: skip


def test_exec_attaches_stdin_and_a_tty_only_when_asked():
    assert swarm.exec_("shop_api.2.abc", ["sh", "-c", "exit 7"], tty=False).argv == (
        "docker", "exec", "--interactive", "shop_api.2.abc", "sh", "-c", "exit 7"
    )  # fmt: skip
    assert swarm.exec_("shop_api.2.abc", ["bash"], tty=True).argv == (
        "docker", "exec", "--interactive", "--tty", "shop_api.2.abc", "bash"
    )  # fmt: skip


def test_a_deploy_of_one_part_of_the_release_leaves_the_stacks_other_services_alone():
    cmd = swarm.deploy("shop-swarm", pathlib.Path("/tmp/x/shop.stack.json"), prune=False)
    assert cmd.argv == (
        "docker", "stack", "deploy", "--compose-file", "/tmp/x/shop.stack.json",
        "--resolve-image", "never", "--detach=true", "shop-swarm",
    )  # fmt: skip
    assert "--prune" not in cmd.argv  # the services the file does not name would be removed


def test_with_a_registry_the_nodes_get_this_machine_s_login_to_it():
    cmd = swarm.deploy("shop-swarm", pathlib.Path("/s.json"), registry=True)
    assert cmd.argv == (
        "docker", "stack", "deploy", "--compose-file", "/s.json", "--prune", "--with-registry-auth",
        "--resolve-image", "never", "--detach=true", "shop-swarm",
    )  # fmt: skip


def test_rollback_and_removal_of_services():
    rollback = swarm.rollback_service("shop-swarm_api")
    assert rollback.argv == ("docker", "service", "rollback", "--detach", "shop-swarm_api")
    assert swarm.remove_services(["shop-swarm_a", "shop-swarm_b"]).argv == (
        "docker", "service", "rm", "shop-swarm_a", "shop-swarm_b"
    )  # fmt: skip


def test_the_last_lines_of_one_task_as_written():
    assert swarm.last_logs("t" * 25, 30).argv == ("docker", "service", "logs", "--raw", "--tail", "30", "t" * 25)
