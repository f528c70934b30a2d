"""petri_stage.log and progress natively: no host, so a log line goes to
stderr and progress is checked, then dropped."""

import pytest

from petri_stage import log, progress


def test_a_log_line_goes_to_stderr_with_its_fields(capsys):
    log("warn", "low coverage", contig="lambda", depth=3)
    assert capsys.readouterr().err == "warn low coverage contig=lambda depth=3\n"


def test_an_unknown_level_or_a_negative_count_is_named():
    with pytest.raises(ValueError, match="'loud' is not one of trace"):
        log("loud", "x")
    with pytest.raises(ValueError, match="never negative"):
        progress(-1)
    progress(5, 10)
