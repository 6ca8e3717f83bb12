"""manage.py settle_month [--month YYYY-MM] [--dry-run]: the monthly settlement, for cron.

    0 2 15 * *  cd /srv/shop && .venv/bin/python manage.py settle_month

Without --month, the previous month. Prints each department's figures and the reconciliation;
exits non-zero (having written nothing but the failed run) when the books do not agree.
"""

import sys

from django.core.management.base import BaseCommand, CommandError

from aftersales.exceptions import SettlementError
from aftersales.services import settlement


class Command(BaseCommand):
    help = "Settle a month's completed order lines with each department (default: the previous month)."

    def add_arguments(self, parser):
        parser.add_argument("--month", help="YYYY-MM (default: the previous month)")
        parser.add_argument("--dry-run", action="store_true", help="Compute and print; write nothing.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, month=None, dry_run=False, no_progress=False, **options):
        try:
            which = settlement.month_parse(month) if month else settlement.month_previous()
            outcome = settlement.settle_month(
                month=which, dry_run=dry_run, progress=None if no_progress else self._progress
            )
        except SettlementError as exc:
            raise CommandError(exc.message) from exc
        finally:
            if getattr(self, "_bar", None) is not None:
                self._bar.close()
        self.stdout.write(self._summary(outcome))

    def _progress(self, total: int):
        from tqdm import tqdm

        # On a terminal only: cron's mail gets the summary, not a bar.
        self._bar = tqdm(total=total, desc="settle", unit="line", disable=not sys.stderr.isatty(), dynamic_ncols=True)
        return self._bar.update

    def _summary(self, outcome) -> str:
        head = f"{'DRY RUN: nothing written. ' if outcome.dry_run else ''}Settlement {outcome.month:%Y-%m}"
        lines = [head, outcome.report, ""]
        lines.append(f"{'department':<24}{'goods':>14}{'refunds':>14}{'commission':>14}{'payable':>14}")
        names = dict((s.department_id, s.department.name) for s in outcome.statements)
        for department_id, figures in sorted(outcome.per_department.items()):
            name = names.get(department_id, str(department_id))
            lines.append(
                f"{name[:23]:<24}{figures.goods:>14}{figures.refunds:>14}{figures.commission:>14}{figures.payable:>14}"
            )
        t = outcome.totals
        lines.append(f"{'total':<24}{t.goods:>14}{t.refunds:>14}{t.commission:>14}{t.payable:>14}")
        if outcome.closed_departments:
            lines.append(
                f"Already confirmed for this month, left alone: {', '.join(outcome.closed_departments)}"
                f" ({outcome.held_lines} lines due wait for the next month)."
            )
        for statement in outcome.statements:
            lines.append(f"{statement.number}: {statement.line_count} lines, payable {statement.payable}")
        return "\n".join(lines)
