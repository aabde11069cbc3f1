"""Reading bench/out/raw.tsv rows (see bench/lib.sh) for the per-part reports."""
import statistics

COLUMNS = {"wall": 4, "cpu": 5, "rss": 6, "value": 7}


class Rows:
    """The rows of one part; statistics over the successful ones (status 0 or empty)."""

    def __init__(self, raw_tsv, part):
        rows = [line.rstrip("\n").split("\t") for line in open(raw_tsv)]
        self.rows = [r for r in rows if len(r) == 9 and r[0] == part]

    def vals(self, step, tool, col):
        out = []
        for r in self.rows:
            if r[1] == step and r[2] == tool and r[8] in ("0", ""):
                v = r[COLUMNS[col]]
                if v:
                    out.append(float(v))
        return out

    def med(self, step, tool, col):
        v = self.vals(step, tool, col)
        return statistics.median(v) if v else None

    def span(self, step, tool, col="wall"):
        v = self.vals(step, tool, col)
        return f"{min(v):.2f}–{max(v):.2f}" if v else "–"

    def failed(self, step, tool):
        return sum(1 for r in self.rows
                   if r[1] == step and r[2] == tool and r[8] not in ("0", ""))

    def status(self, step, tool):
        """Status column of the first matching row, or None."""
        for r in self.rows:
            if r[1] == step and r[2] == tool:
                return r[8]
        return None
