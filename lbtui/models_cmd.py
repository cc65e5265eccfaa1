"""``lbtui models``: get, set up and check the VirNucPro models.

``fetch DIR`` downloads the real models (``models_fetch.py``). ``init-demo DIR``
writes small random-weight models of the real architectures (the pipeline then
runs on CPU in seconds; its predictions are meaningless). ``check DIR|auto``
checks each file models.json lists against its recorded sha256, then builds
each model on CPU as a worker does and runs one short sequence through
DNABERT-S, ESM-2 and the classifier; ok only when all three ran. A broken
model is one line naming its file, exit 2; nothing is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import models_fetch
from .models_check import check_folder

EXAMPLES = """\
examples:
  lbtui models fetch ~/models                   (ESM-2 3B, DNABERT-S, 500_model.pth; about 6.2 GB)
  lbtui models fetch ~/models --chunk-length 300   (adds 300_model.pth)
  lbtui models check ~/models --chunk-length 300
  lbtui models check auto        (upstream's downloads in the torch hub and HF caches)
  lbtui models init-demo .demo/models
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "models",
        help="download the models, create demo models, or check a models folder",
        description="Download the real models (fetch), create small random-weight demo models "
        "(init-demo), or check a models folder (esm/, dnabert/, <L>_model.pth or classifier.pth) by "
        "building each model on CPU and running one short sequence through it, as every worker does "
        "before a virnucpro run.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="models_command", metavar="ACTION")
    actions.required = True
    models_fetch.add_parser(actions)
    init = actions.add_parser("init-demo", help="write small random-weight models into DIR")
    init.add_argument("dir", metavar="DIR")
    check = actions.add_parser("check", help="check DIR's files and run a test sequence through each model")
    check.add_argument("dir", metavar="DIR|auto")
    check.add_argument("--chunk-length", type=int, choices=(300, 500), default=500,
                       help="check the classifier for this chunk length (DIR/<L>_model.pth unless "
                       "DIR/classifier.pth exists) [default: 500]")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from virnucpro_bridge.errors import TaskError

    if args.models_command == "fetch":
        return models_fetch.main(args)
    if args.models_command == "init-demo":
        from virnucpro_bridge.tasks.virnucpro.demo_models import init_demo

        try:
            root = init_demo(Path(args.dir))
        except OSError as e:
            raise TaskError(f"{args.dir}: cannot write demo models: {e.strerror or e}") from None
        print(f"demo models written to {root} (random weights: predictions are meaningless)")
        return 0
    return check_folder(args.dir, args.chunk_length)
