"""Write the execution environment definition `make ee` builds.

    lab_definition.py USER_DEFINITION OUT_DIR TARBALL WHEELHOUSE BASE_IMAGE

USER_DEFINITION is docs/execution-environment.yml, the file users get. The
written OUT_DIR/execution-environment.yml is that file with what this
machine needs and nothing else changed:

- the collection from TARBALL (ansible-galaxy collection build of this
  checkout) instead of Galaxy, installed with --offline;
- pip without a package index: the wheels of WHEELHOUSE (downloaded on the
  host with the host's pip configuration, hack/ee/wheelhouse.txt) and a pip
  configuration that points at them, both in the build context, both
  removed at the end of the final stage;
- BASE_IMAGE (built locally) as the base image.

tests/ee checks that the two definitions differ by exactly this.
"""

import copy
import os
import sys

import yaml

WHEELS_IN_IMAGE = "/tmp/ee-wheels"


def lab_definition(user, tarball, wheelhouse, base_image):
    d = copy.deepcopy(user)
    d["images"]["base_image"]["name"] = base_image
    d["dependencies"]["galaxy"] = {
        "collections": [{"name": "collections/" + os.path.basename(tarball), "type": "file"}],
    }
    d.setdefault("build_arg_defaults", {})["ANSIBLE_GALAXY_CLI_COLLECTION_OPTS"] = "--offline"
    d["additional_build_files"] = [
        {"src": os.path.abspath(wheelhouse), "dest": "wheels"},
        {"src": "pip.conf", "dest": "pip"},
        {"src": os.path.abspath(tarball), "dest": "collections"},
    ]
    steps = d.setdefault("additional_build_steps", {})
    steps["prepend_base"] = [
        "COPY _build/wheels " + WHEELS_IN_IMAGE,
        "COPY _build/pip/pip.conf /etc/pip.conf",
    ] + list(steps.get("prepend_base", []))
    steps["append_final"] = list(steps.get("append_final", [])) + [
        "RUN rm -rf " + WHEELS_IN_IMAGE + " /etc/pip.conf",
    ]
    return d


def main(argv):
    if len(argv) != 6:
        sys.exit(__doc__)
    user_file, out_dir, tarball, wheelhouse, base_image = argv[1:]
    with open(user_file, encoding="utf-8") as fh:
        user = yaml.safe_load(fh)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "pip.conf"), "w", encoding="utf-8") as fh:
        fh.write("[global]\nno-index = true\nfind-links = %s\ndisable-pip-version-check = true\n" % WHEELS_IN_IMAGE)
    with open(os.path.join(out_dir, "execution-environment.yml"), "w", encoding="utf-8") as fh:
        fh.write("---\n# Written by hack/ee/lab_definition.py from %s: do not edit.\n" % user_file)
        yaml.safe_dump(lab_definition(user, tarball, wheelhouse, base_image), fh, sort_keys=False)


if __name__ == "__main__":
    main(sys.argv)
