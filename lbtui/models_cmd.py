"""``lbtui models``: set up and check the VirNucPro models.

``init-demo DIR`` writes small random-weight models of the real architectures
(the pipeline then runs on CPU in seconds; its predictions are meaningless).
``check DIR|auto`` finds and checks models as ``lbtui run --task virnucpro`` would.
"""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """\
examples:
  lbtui models init-demo .demo/models
  lbtui models check ~/models --chunk-length 300
  lbtui models check auto        (upstream's downloads in the torch hub and HF caches)
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="create demo models or check a models folder",
        description="Create small random-weight demo models, or check a models folder "
        "(esm/, dnabert/, classifier.pth) the way a virnucpro run would.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="models_command", metavar="ACTION")
    actions.required = True
    init = actions.add_parser("init-demo", help="write small random-weight models into DIR")
    init.add_argument("dir", metavar="DIR")
    check = actions.add_parser("check", help="find and check models as a run would")
    check.add_argument("dir", metavar="DIR|auto")
    check.add_argument("--chunk-length", type=int, choices=(300, 500), default=500)
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from virnucpro_bridge.errors import TaskError

    if args.models_command == "init-demo":
        from virnucpro_bridge.tasks.virnucpro.demo_models import init_demo

        try:
            root = init_demo(Path(args.dir))
        except OSError as e:
            raise TaskError(f"{args.dir}: cannot write demo models: {e.strerror or e}") from None
        print(f"demo models written to {root} (random weights: predictions are meaningless)")
        return 0
    from virnucpro_bridge.tasks.virnucpro import VirNucProTask
    from virnucpro_bridge.tasks.virnucpro.models import locate

    options = {"models": args.dir, "chunk_length": args.chunk_length}
    notices = VirNucProTask(options).check()
    paths = locate(args.dir, args.chunk_length)
    print(f"ESM-2       {paths.esm}\nDNABERT-S   {paths.dnabert}\nclassifier  {paths.classifier}")
    for notice in notices:
        print(f"note: {notice}")
    print("ok")
    return 0
