#!/bin/sh
# Daily leakwatch run for cron: crawl the watched sites into the store, then write the day's
# JSON trend report and the list of cases it found that were never seen before. Everything
# goes under $LEAKWATCH_DIR (default ~/leakwatch):
#   targets.txt              the sites to watch (see examples/targets.txt)
#   scans/YYYY-MM-DD.jsonl   that day's findings (masked), streamed as found
#   reports/YYYY-MM-DD.json  the yearly report over everything the store has seen
#   reports/YYYY-MM-DD-new.md  the new cases, when there are any (also printed: mailed)
#   daily.lock               held while a run is going on
# The store is leakwatch's default (~/.local/share/leakwatch/leakwatch.db) unless
# LEAKWATCH_DB says otherwise.
#
# What cron does with it: cron mails whatever a job prints, on stdout or stderr, and
# nothing when it prints nothing; it ignores the exit status. So this script is silent on a
# quiet day and prints what there is to look at: the new cases (a Markdown table: URL, site,
# category, records by type), a site that could not be reached or a page that failed
# (leakwatch -q prints only failures), a day skipped because yesterday's run is still going,
# a scan or report that did not complete. The exit status is for other
# schedulers (systemd timers, CI): 0 good day, 3 something failed, 75 skipped.
set -u
dir=${LEAKWATCH_DIR:-$HOME/leakwatch}
day=$(date +%F)
mkdir -p "$dir/scans" "$dir/reports" || exit 3

# At most one run at a time: a crawl of slow sites can outlast a day.
exec 9>>"$dir/daily.lock"
if ! flock -n 9; then
    echo "leakwatch daily $day: skipped: the previous run still holds $dir/daily.lock"
    exit 75
fi

# --strict: a page or site that failed makes the exit status 3 (its line is printed anyway).
leakwatch scan -l "$dir/targets.txt" -q --strict -f jsonl -o "$dir/scans/$day.jsonl"
scanned=$?
if [ "$scanned" -ne 0 ]; then
    echo "leakwatch daily $day: scan exited $scanned (see the lines above; findings so far are in $dir/scans/$day.jsonl)"
fi
# The report is written whatever the scan did: it counts what the store holds.
leakwatch report --baseline 2020 -f json -o "$dir/reports/$day.json"
reported=$?
if [ "$reported" -ne 0 ]; then
    echo "leakwatch daily $day: report exited $reported"
    exit "$reported"
fi
# The cases this scan saw first (report --new: since the last run began). It prints nothing
# when there are none, so the mail comes only with news.
new=$(leakwatch report --new -q -f markdown)
if [ -n "$new" ]; then
    printf '%s\n' "$new" > "$dir/reports/$day-new.md"
    printf '%s\n' "$new"
fi
exit "$scanned"
