from django.core.management.base import BaseCommand, CommandError, CommandParser

from replay.inspection import DEFAULT_THREADS, inspect_checkpoints
from replay.inspection_report import InspectionReport
from replay.services import ThreadNotFound


class Command(BaseCommand):
    help = (
        "Read a sample of the checkpoint tables (read-only) and print what they hold, how each part is "
        "recognised, and the SMART_SUPPORT_* settings that would change the reading."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--threads", type=int, default=None, help=f"how many of the most recent threads to read (default {DEFAULT_THREADS})"
        )
        parser.add_argument("--thread", default=None, help="read this one thread instead")

    def handle(self, *args, threads: int | None, thread: str | None, **options) -> None:
        if threads is not None and threads < 1:
            raise CommandError(f"--threads must be a whole number of at least 1; got {threads}", returncode=2)
        if threads is not None and thread is not None:
            raise CommandError("--threads and --thread cannot be combined: give one", returncode=2)
        try:
            report = inspect_checkpoints(threads=threads or DEFAULT_THREADS, thread_id=thread)
        except ThreadNotFound:
            raise CommandError(f"--thread: no checkpoints for thread {thread!r}", returncode=2) from None
        for line in report_lines(report):
            self.stdout.write(line)


def report_lines(report: InspectionReport) -> list[str]:
    """The report as text: what was found and how, then the settings ready to paste."""
    lines = [
        f"READ {report.sample}, read-only: {report.checkpoints} checkpoints, {report.writes} writes, {report.steps} replay steps",
        "  from checkpoints: metadata.source and .writes, channel_versions, inline channel_values, versions_seen;",
        "  from checkpoint_writes: task_path and channel; from checkpoint_blobs: channel values under 1 KB;",
        "  messages, interrupts, resumes and errors as the replay reads them (the timeline builder)",
    ]
    if report.threads_read_from_blobs:
        lines.append(f"  {report.threads_read_from_blobs} threads left no per-step writes (durability=\"exit\"): messages read from the channel blobs")
    lines += ["", "Checkpoint sources (metadata.source): " + _counts(report.sources)]
    lines += ["", "Graph nodes (checkpoint_writes.task_path, metadata.writes):"]
    lines += [f"  {node.name:<36} {node.writes:>6} writes  {', '.join(node.channels)}" for node in report.nodes] or ["  none"]
    lines += ["", "Subgraphs (checkpoint_ns), by threads: " + _counts(report.namespaces)]
    lines += ["", "Tools (AIMessage.tool_calls, answered by ToolMessages):"]
    for tool in report.tools:
        answered_by = f" by {_counts(tool.answered_by)}" if tool.answered_by else ""
        lines.append(
            f"  {tool.name:<36} {tool.calls} calls, {tool.answered} answered{answered_by}, {tool.unanswered} unanswered, "
            f"{tool.errors} errors; read as {_counts(tool.read_as)}; next reply from the caller {tool.caller_went_on}, "
            f"from another node {tool.node_changed_after}"
        )
    if not report.tools:
        lines.append("  none")
    lines += ["", "Channels (channel_versions keys, inline channel_values), by threads:"]
    lines += [
        f"  {channel.name:<36} {channel.threads:>5}  {channel.stored}" + (f"  e.g. {channel.example}" if channel.example else "")
        for channel in report.channels
    ] or ["  none"]
    lines += [
        "",
        f"Interrupts: {report.interrupt_writes} __interrupt__ writes; in the replay: {_counts(report.interrupts)}",
        f"Breakpoint stops (a run ended with nodes pending and no interrupt or error written): {len(report.breakpoint_stops)}; "
        f"read as interrupts by the replay: {report.breakpoints_recognised}",
    ]
    lines += [
        f"  thread {stop.thread_id} at {stop.checkpoint_id}: before {', '.join(stop.pending_nodes)} — then {stop.then}"
        for stop in report.breakpoint_stops[:10]
    ]
    lines += [
        f"Handoffs in the replay, by rule: {_counts(report.handoffs)}",
        f"Tool errors in the replay: {_counts(report.tool_errors)}",
        f"Unknown steps in the replay: {_counts(report.unknown_steps)}",
        f"Conventions found as stored: {_counts(report.conventions)}",
        "",
        "Reading in force:",
        *(f"  {variable}={value}" for variable, value in report.reading),
        "",
    ]
    if not report.advice:
        lines.append("Settings that would change the reading: none — what was seen is read with the settings in force.")
    else:
        lines.append("Settings that would change the reading (paste into the environment):")
        for advice in report.advice:
            lines.append(f"# {advice.reason}")
            lines += [f"#   {evidence}" for evidence in advice.evidence]
            lines.append(advice.line)
    lines.append(f"DONE inspect_checkpoints: {report.threads} threads, {len(report.advice)} settings proposed")
    return lines


def _counts(counted) -> str:
    return ", ".join(f"{item.name} {item.count}" for item in counted) or "none"
