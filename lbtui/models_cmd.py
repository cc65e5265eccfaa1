"""``lbtui models``: set up and check the VirNucPro models.

``init-demo DIR`` writes small random-weight models of the real architectures
(the pipeline then runs on CPU in seconds; its predictions are meaningless).
``check DIR|auto`` builds each model on CPU as a worker does and runs one
short sequence through DNABERT-S, ESM-2 and the classifier; ok only when all
three ran. A broken model is one line naming its file, exit 2; nothing is written.
"""

from __future__ import annotations

import argparse
import time
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
        "(esm/, dnabert/, classifier.pth) by building each model on CPU and running one "
        "short sequence through it, as every worker does before a virnucpro run.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="models_command", metavar="ACTION")
    actions.required = True
    init = actions.add_parser("init-demo", help="write small random-weight models into DIR")
    init.add_argument("dir", metavar="DIR")
    check = actions.add_parser("check", help="build each model on CPU and run a test sequence through it")
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
    from virnucpro_bridge.tasks.virnucpro.loading import load_pipeline, smoke

    options = {"models": args.dir, "chunk_length": args.chunk_length}
    task = VirNucProTask(options)
    notices = task.check()  # every file, without building a model
    started = time.perf_counter()
    pipeline = load_pipeline(task.paths, "cpu")
    loaded = time.perf_counter() - started
    seconds = smoke(pipeline)
    for report in pipeline.reports:
        print(f"{report.name:<11} {report.path}")
        print(f"{'':<11} {report.layout}; {report.parameters:,} parameters; {report.output}")
    for notice in notices:
        print(f"note: {notice}")
    print(f"loaded on cpu in {loaded:.1f} s; one test sequence through each model in {seconds:.2f} s")
    print("ok")
    return 0
