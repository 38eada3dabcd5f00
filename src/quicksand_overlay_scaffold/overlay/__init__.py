"""Build machinery that boots a base image, runs ``_setup`` and saves the overlay.

Generated projects reach it through the hatch build hook in
``quicksand_overlay_scaffold.build_hook`` and through the pytest plugin.
"""
