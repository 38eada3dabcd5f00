"""Checks that the built image contains what _setup in hatch_build.py made.

`pytest` builds the overlay first if _setup changed, boots it once, and hands
each test the VM as it was right after boot. The host fixture is a testinfra
Host (https://testinfra.readthedocs.io/en/latest/modules.html). For each step
you add to _setup, add a check in the same way, for example:

    def test_curl_installed(host):
        assert host.package("curl").is_installed
"""

IMAGE = "{{ cookiecutter.__package_slug }}"
APP_SHELL = "{{ '/bin/sh' if cookiecutter.base.startswith('alpine') else '/bin/bash' }}"


def test_release_file(host):
    release = host.file(f"/etc/{IMAGE}-release")
    assert release.is_file
    assert release.user == "root"
    assert release.content_string == f"NAME={IMAGE}\n"


def test_app_user(host):
    app = host.user("app")
    assert app.exists
    assert app.home == "/home/app"
    assert app.shell == APP_SHELL
    home = host.file("/home/app")
    assert home.is_directory
    assert home.user == "app"


def test_profile_script(host):
    script = host.file(f"/etc/profile.d/{IMAGE}.sh")
    assert script.is_file
    assert script.contains(f"export OVERLAY_NAME={IMAGE}")
    # A login shell reads /etc/profile, which sources /etc/profile.d/*.sh.
    assert host.check_output("sh -l -c 'echo $OVERLAY_NAME'") == IMAGE


def test_app_user_runs_commands(sandbox):
    # The sandbox fixture is the same VM with quicksand's API: run() returns
    # quicksand's ExecuteResult, and check=True fails on a non-zero exit.
    result = sandbox.run("id -un && echo $HOME", user="app", check=True)
    assert result.stdout.split() == ["app", "/home/app"]

