"""What one poll of one device returns, whatever the protocol."""

from __future__ import annotations

from dataclasses import dataclass

from sitewatch.collector.errors import CollectorError
from sitewatch.domain.samples import Sample, SampleBlock


@dataclass(frozen=True, slots=True)
class PollResult:
    """Samples of one poll, and the errors of the parts that failed.

    A partial failure (one register block rejected) puts its error here and its channels in
    ``samples`` as COMM_ERROR; the other parts still report GOOD samples.
    """

    samples: SampleBlock | tuple[Sample, ...]  # a block: Modbus stations; other pollers: Samples
    errors: tuple[CollectorError, ...] = ()
