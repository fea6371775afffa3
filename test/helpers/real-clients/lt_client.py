"""Seed or leech one torrent with libtorrent, using the tracker as the only peer source.

Usage: lt_client.py --torrent T --save-path DIR --listen HOST:PORT

Seeder or leecher is decided by what is in --save-path: existing complete data is checked and seeded.
Writes one JSON object per line on stdout for the test to wait on:
  {"event": "listening"}, {"event": "tracker_reply", "peers": N}, {"event": "tracker_error", "message": "..."},
  {"event": "finished"}, {"event": "stopped"}
Everything else (peer connections, warnings) goes to stderr, which the test shows only on failure.
SIGTERM or SIGINT pauses the torrent, which announces event=stopped, then exits.
"""

import argparse
import json
import signal
import sys
import time

import libtorrent as lt

STOP_ANNOUNCE_WAIT_S = 3.0


def emit(event: str, **fields) -> None:
    print(json.dumps({'event': event, **fields}), flush=True)


def log(message: str) -> None:
    print(f'[lt {time.monotonic():.3f}] {message}', file=sys.stderr, flush=True)


def make_session(listen: str) -> lt.session:
    cat = lt.alert.category_t
    settings = {
        'listen_interfaces': listen,
        # Keep every peer source but the tracker off.
        'enable_dht': False,
        'enable_lsd': False,
        'enable_upnp': False,
        'enable_natpmp': False,
        # TCP only: the tracker test does not need uTP, and Transmission has it off too.
        'enable_outgoing_utp': False,
        'enable_incoming_utp': False,
        # All peers share 127.0.0.1 or ::1 and differ only by port.
        'allow_multiple_connections_per_ip': True,
        # Do not keep the process alive for long on stop.
        'stop_tracker_timeout': 2,
        'user_agent': 'swarmd-test/libtorrent-' + lt.__version__,
        'alert_mask': (
            cat.error_notification
            | cat.status_notification
            | cat.tracker_notification
            | cat.connect_notification
            | cat.peer_notification
        ),
    }
    # Flags 0: no default plugins, so no ut_pex, ut_metadata or smart_ban.
    return lt.session(settings, 0)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('--torrent', required=True)
    parser.add_argument('--save-path', required=True)
    parser.add_argument('--listen', required=True, help='127.0.0.1:PORT or [::1]:PORT')
    args = parser.parse_args()

    stop_requested = False

    def request_stop(signum, _frame) -> None:
        nonlocal stop_requested
        log(f'signal {signum}: stopping')
        stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    ses = make_session(args.listen)
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(args.torrent)
    atp.save_path = args.save_path
    atp.flags |= lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd | lt.torrent_flags.disable_pex
    # Start at once: the defaults would add it paused and auto-managed (queued).
    atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    handle = ses.add_torrent(atp)

    stopping_since = None
    while True:
        if stop_requested and stopping_since is None:
            stopping_since = time.monotonic()
            handle.pause()  # a paused torrent announces event=stopped
        if stopping_since is not None and time.monotonic() - stopping_since > STOP_ANNOUNCE_WAIT_S:
            break
        ses.wait_for_alert(200)
        for alert in ses.pop_alerts():
            log(f'{type(alert).__name__}: {alert.message()}')
            if isinstance(alert, lt.listen_succeeded_alert):
                if alert.socket_type == lt.socket_type_t.tcp:
                    emit('listening')
            elif isinstance(alert, lt.listen_failed_alert):
                emit('listen_failed', message=alert.message())
                return 1
            elif isinstance(alert, lt.tracker_reply_alert):
                emit('tracker_reply', peers=alert.num_peers)
                if stopping_since is not None:
                    # This is the reply to event=stopped.
                    emit('stopped')
                    return 0
            elif isinstance(alert, lt.tracker_error_alert):
                emit('tracker_error', message=alert.message())
            elif isinstance(alert, lt.torrent_finished_alert):
                emit('finished')
    emit('stopped')
    return 0


if __name__ == '__main__':
    sys.exit(main())
