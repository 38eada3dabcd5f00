{{ cookiecutter.description | python_string }}

from pathlib import Path

from quicksand_core import Sandbox

IMAGE_NAME = "{{ cookiecutter.__package_slug }}"


class {{ cookiecutter.__class_name }}(Sandbox):
    """A Sandbox that boots the {{ cookiecutter.__package_slug }} overlay image."""

    def __init__(self, **config):
        super().__init__(image=IMAGE_NAME, **config)
