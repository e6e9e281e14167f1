"""What bounded rendering costs per message, against rendering in the process.

Run: python -m benchmarks.template_render [--messages 2000]

Renders a typical campaign template (name, points, offer) for `--messages`
customers twice in the same run: in process (the Jinja sandbox alone, the
baseline, which has no time or memory bound) and through the bounded worker
(rapport.crm.campaigns.bounded: one round trip to the worker process per
message). The worker is started before timing; its start-up is reported on
its own. The ratio is bounded / in process, per message.
"""

from __future__ import annotations

import argparse
import time

from benchmarks.common import machine, result
from rapport.crm.campaigns.bounded import BoundedRenderer
from rapport.crm.campaigns.templates import SAMPLE_CONTEXT, compiled_template

TEMPLATE = (
    "Hi {{ first_name }}, thank you for shopping at {{ business }}! You have {{ points }} "
    "points{% if points > 100 %}, enough for a treat{% endif %}. Use {{ offer_code }} "
    "before {{ offer_expires }}."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    contexts = [
        {**SAMPLE_CONTEXT, "first_name": f"Cust{i}", "points": i} for i in range(args.messages)
    ]
    print(f"# {machine()}, {args.messages} messages")

    template = compiled_template(TEMPLATE)
    started = time.perf_counter()
    for c in contexts:
        template.render(**c)
    in_process = (time.perf_counter() - started) / args.messages

    renderer = BoundedRenderer()
    started = time.perf_counter()
    renderer.render(TEMPLATE, contexts[0])
    start_up = time.perf_counter() - started
    started = time.perf_counter()
    for c in contexts:
        renderer.render(TEMPLATE, c)
    bounded = (time.perf_counter() - started) / args.messages
    renderer.close()

    result("template_render_in_process", in_process * 1e6, "us/message")
    result("template_render_bounded", bounded * 1e6, "us/message")
    result("template_render_ratio", bounded / in_process, "x")
    result("template_worker_start", start_up * 1000, "ms")


if __name__ == "__main__":
    main()
