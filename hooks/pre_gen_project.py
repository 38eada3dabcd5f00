"""Reject unusable names before cookiecutter writes the project's files.

cookiecutter has already created the empty project folder when this hook
runs. When the hook exits with a non-zero status, cookiecutter removes that
folder if it created it.

cookiecutter renders this file with Jinja before running it. The context
arrives as a JSON text inside a Python string literal, so free text such as
quotes, backslashes or template syntax stays data.
"""

import json
import os
import sys

CONTEXT = json.loads({{ cookiecutter | tojson | tojson }})

sys.path.insert(0, os.path.join(CONTEXT["_repo_dir"], "hooks"))

import overlay_names  # noqa: E402


def main() -> int:
    try:
        overlay_names.validate(CONTEXT)
    except overlay_names.InvalidNameError as error:
        message = f"error: {error}".encode("ascii", "backslashreplace").decode()
        print(message, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
