#!/bin/sh
# t_sweep.sh - the fault sweep's fixed sample (tests/sweep/sweep.sh
# --sample; `make sweep` runs every APDU index and HTTP exchange): a 3-key
# tc-redo Redo on the real stack with one fault per run, then `raterm
# recover`, then the invariant (every certificate the CM host issued is on
# the card and confirmed, or not on the card and rejected/revoked; no key
# changed; no open operation in the journal; the audit's last line for each
# certificate says what is true; never "Nothing was issued" when the CM host
# issued). The steps are found in the clean run's trace and HTTP log, not by
# index:
#   before-the-cr, cr-sent-answer-lost, cr-answer-truncated,
#     cr-answer-protection-broken, cr-answer-http500, cr-answer-garbage,
#     cr-answer-late, raterm-killed-before-the-first-write
#                                              (issue 11, defect 2)
#   write-sent-answer-lost, write-failed-6F00, write-bare-9000,
#     card-pulled-at-the-first-write, after-the-first-write,
#     read-back-failed, read-back-bare-9000, test-signature-failed,
#     raterm-killed-between-writes             (defect 1)
#   cmhost-killed-before-certConf, certConf-sent-answer-lost,
#     cmhost-killed-at-certConf, certConf-answer-truncated,
#     certConf-answer-protection-broken        (defect 3)
# About 1 min (sanitizer build, 2 cores); `make sweep`: 336 faults, 12 min.
exec sh "$(dirname "$0")/../sweep/sweep.sh" --sample
