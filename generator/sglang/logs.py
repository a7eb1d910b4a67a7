"""SGLang's own log lines that mark the phases of a cold start, per version.

The serving container matches each line SGLang prints against these markers and logs a phase
timeline with one summary line (templates/modal_app.py.j2, `_Timeline`). Each marker is the
start of a `logger.info` message in the pinned wheel, cited beside it; when a phase's line
repeats (the target and the EAGLE draft both load weights and capture graphs) the last one counts.

A marker is a sequence of literal pieces that must appear in the line in that order, found with
`str.find`: matching costs time linear in the line whatever it holds (a regular expression such
as `Capture .*graph end` is quadratic on a line of many "Capture " and no "graph end").
"""

from __future__ import annotations

# Phases the container marks itself, before SGLang starts.
CONTAINER_PHASES = ("compile_cache_copied",)

# (phase, literal pieces in order, where SGLang logs it). 0.5.10 and 0.5.23 print the same starts.
_MARKERS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "sglang_started",
        ("server_args=",),
        'srt/entrypoints/engine.py: logger.info(f"server_args=...") (0.5.10: f"{server_args=}")',
    ),
    (
        "weights_loaded",
        ("Load weight end.",),
        'srt/model_executor/model_runner.py: "Load weight end. elapsed=..."',
    ),
    (
        "cuda_graphs_captured",
        ("Capture ", "graph end."),
        '0.5.23 srt/model_executor/model_runner_components/cuda_graph_setup.py: "Capture '
        '{role} {prefill|decode|verify} CUDA graph end."; 0.5.10 model_runner.py and '
        'speculative/eagle_worker*.py: "Capture ... cuda graph end."',
    ),
    (
        "healthy",
        ("The server is fired up and ready to roll!",),
        "srt/entrypoints/http_server.py, after the warm-up request",
    ),
)
VERSIONS = ("0.5.10", "0.5.23")  # checked against these wheels' source


def cold_start_markers(version: str) -> list[tuple[str, tuple[str, ...]]]:
    """(phase, pieces) in the order a cold start passes them. Another version gets the same
    markers, a guess: a phase whose line changed shows as "not seen" in the summary."""
    del version  # one table for every checked version so far (VERSIONS)
    return [(phase, pieces) for phase, pieces, _ in _MARKERS]
