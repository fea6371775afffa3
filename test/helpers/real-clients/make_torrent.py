"""Create a v1-only .torrent for one file with libtorrent's create_torrent.

Usage: make_torrent.py DATA_FILE ANNOUNCE_URL OUT_TORRENT [--private]
Prints the 40-hex v1 info hash on stdout.

v1-only on purpose: aria2 announces a wrong hash for hybrid torrents and Transmission 3.00 cannot parse them.
"""

import argparse
import os
import sys

import libtorrent as lt

PIECE_SIZE = 256 * 1024  # 16 pieces for the 4 MiB test file: several requests, still fast


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('data_file')
    parser.add_argument('announce_url')
    parser.add_argument('out_torrent')
    parser.add_argument('--private', action='store_true', help='BEP 27 private flag (aria2 needs it for UDP)')
    args = parser.parse_args()

    data_file = os.path.abspath(args.data_file)
    fs = lt.file_storage()
    lt.add_files(fs, data_file)
    ct = lt.create_torrent(fs, PIECE_SIZE, lt.create_torrent.v1_only)
    ct.add_tracker(args.announce_url)
    ct.set_creator('swarmd real-client test')
    if args.private:
        ct.set_priv(True)
    # Piece hashes are computed relative to the directory holding the file.
    lt.set_piece_hashes(ct, os.path.dirname(data_file))
    with open(args.out_torrent, 'wb') as out:
        out.write(lt.bencode(ct.generate()))

    info = lt.torrent_info(args.out_torrent)
    print(str(info.info_hashes().v1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
