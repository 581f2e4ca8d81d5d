"""Fault 11 of #13, fail closed: when the security rules or the git-clean check
cannot run, the preflight fails, in one line that says which and why; the deploy
starts nothing, takes no lock, records nothing. Each case deploys a copy of the
checkout broken in one way, for real (no --dry-run): were the check to pass
silently, the deploy would go on and start the stack, which the test would see."""

from __future__ import annotations

import subprocess

import pytest

from tests.support import containers, copy_checkout, inv_in, lock_held, prod_inv, remove_prod_project, state_volumes

pytestmark = pytest.mark.integration

# A service of a profile the deploy does not start, depending on one that does not
# exist: `docker compose config` of prod works, the one with every profile (what the
# security rules read) fails.
BROKEN_PROFILE = "  broken:\n    image: busybox\n    profiles: [broken]\n    depends_on: [nowhere]\n\nvolumes:\n"


def break_git_file(copy, tmp_path) -> dict[str, str]:
    (copy / ".git").write_text("gitdir: /nonexistent/stackyard.git\n")  # a worktree whose repository is gone
    return {}


def break_git_dir(copy, tmp_path) -> dict[str, str]:
    (tmp_path / "not-a-repo").mkdir()
    return {"GIT_DIR": str(tmp_path / "not-a-repo")}


def break_compose(copy, tmp_path) -> dict[str, str]:
    prod = copy / "compose" / "compose.prod.yaml"
    prod.write_text(prod.read_text().replace("\nvolumes:\n", "\n" + BROKEN_PROFILE, 1))
    return {}


@pytest.mark.parametrize(
    ("breakage", "flags", "expected"),
    [
        (
            break_git_file,
            (),
            "the git-clean check cannot run: `git status` in {copy} fails (fatal: not a git repository: "
            "/nonexistent/stackyard.git): deploy from a git checkout with git installed, or with --allow-dirty",
        ),
        (
            break_git_dir,
            (),
            "the git-clean check cannot run: `git status` in {copy} fails (fatal: not a git repository: "
            "'{tmp}/not-a-repo'): deploy from a git checkout with git installed, or with --allow-dirty",
        ),
        (
            # --allow-dirty: the git check is skipped, the security rules alone can stop it.
            break_compose,
            ("--allow-dirty",),
            'the security rules cannot run: `docker compose config` of prod fails (service "broken" depends on '
            'undefined service "nowhere": invalid compose project): fix the compose config',
        ),
    ],
    ids=["git-file-to-nowhere", "git-dir-not-a-repo", "compose-config-fails"],
)
def test_preflight_fails_closed_when_a_check_cannot_run(breakage, flags, expected, tmp_path):
    inv = prod_inv("failclosed")
    project = inv.env["STACKYARD_PROJECT"]
    copy = tmp_path / "checkout"
    copy_checkout(copy)
    env = breakage(copy, tmp_path)
    try:
        proc = inv_in(inv, copy, "prod-deploy", *flags, timeout=300, **env)
        assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
        errors = [line for line in proc.stderr.splitlines() if line.startswith("stackyard: ")]
        assert len(errors) == 1, proc.stderr  # one line says it
        assert errors[0].startswith("stackyard: error: deploy of ")
        assert expected.format(copy=copy, tmp=tmp_path) in errors[0]
        assert "==> 1/" in proc.stdout and "==> 2/" not in proc.stdout  # the preflight, and nothing after it
        # Nothing started, nothing built, no lock, no record.
        assert containers(project) == []
        assert not lock_held(project)
        images = subprocess.run(
            ["docker", "images", "--filter", f"reference={project}-*", "--format", "{{.Repository}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert images == []
        assert state_volumes(project) == []  # no record: not even an empty history on the engine
    finally:
        remove_prod_project(inv)  # what a deploy that went on would have left
