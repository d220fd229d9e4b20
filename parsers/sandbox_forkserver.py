"""Imported only inside the sandbox's fork server (listed in its preload, never imported elsewhere).

The fork server must outlive a SIGTERM sent to the whole process group (systemd does this): if
it died, the reader it forked for the attachment in hand would die with it (PR_SET_PDEATHSIG) and
a good attachment would be reported as broken. It still ends when the service ends: it exits as
soon as its parent's end of the "alive" pipe closes.
"""

import signal

signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
