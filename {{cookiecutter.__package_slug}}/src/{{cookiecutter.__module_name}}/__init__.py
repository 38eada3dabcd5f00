{{ cookiecutter.description | python_string }}

from pathlib import Path

from quicksand_core import Sandbox

from ._overlay import OverlayImage, boot_config

__all__ = ["IMAGE_NAME", "{{ cookiecutter.__class_name }}", "image"]

IMAGE_NAME = "{{ cookiecutter.__package_slug }}"

# The quicksand.images entry point: Sandbox(image=IMAGE_NAME) boots this overlay.
image = OverlayImage(IMAGE_NAME, Path(__file__).parent / "images")


class {{ cookiecutter.__class_name }}(Sandbox):
    """A Sandbox that boots the {{ cookiecutter.__package_slug }} overlay image.

    It boots with the memory, CPU count and disk size recorded when the overlay
    was built. Keyword arguments are those of quicksand_core.Sandbox and
    override the recorded values. The constructor raises an OverlayError if
    the overlay is not built or the installed base image differs from the one
    it was built on.
    """

    def __init__(self, **config):
        record = image.check()
        # The folder, not IMAGE_NAME, so that the boot needs no installed entry
        # point and a save of the same name in .quicksand/sandboxes cannot shadow it.
        images_dir = str(image.images_dir)
        super().__init__(image=images_dir, **boot_config(record, config))
