"""A tiny espeak-ng server process (standard library only; run as a script, not imported).

    python espeak_server.py LIBRARY_PATH DATA_PATH [PARENT_PID]

It exits when its parent dies (PR_SET_PDEATHSIG on Linux, checked against PARENT_PID) or closes stdin.

espeak-ng keeps hidden state between utterances, so the same text comes out slightly different the
second time in one process, and its jitter is seeded from the clock unless a seed is set. This server initialises the library once and forks a child per clip:
every clip starts from the same pristine state, and forking this small process is cheap.

Protocol (binary-safe, over stdin/stdout): the client writes one JSON line
``{"voice": "gmw/en+m3", "text": "...", "parameters": [[1, 160], [3, 50]], "seed": 0}``; the server answers one
JSON line ``{"ok": true, "rate": 22050, "bytes": N}`` followed by N bytes of int16 samples, or
``{"ok": false, "error": "..."}``. The first line it writes is ``{"ok": true, "rate": R, "version": V}``.
"""

import ctypes
import json
import os
import sys

_SYNCHRONOUS = 2
_DONT_EXIT = 0x8000
_UTF8 = 1
_POS_CHARACTER = 1
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_ERRORS = {3: "unknown voice", 4: "synthesis failed", 5: "internal error in the synthesis child"}


def _load(library_path, data_path):
    lib = ctypes.CDLL(library_path)
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_Info.argtypes = [ctypes.c_void_p]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
        ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]
    rate = lib.espeak_Initialize(_SYNCHRONOUS, 0, data_path.encode(), _DONT_EXIT)
    return lib, rate


def _child(lib, fd, request):
    """Runs in the forked child: synthesize, write raw samples to ``fd``; returns the exit status."""
    chunks = []

    def collect(wav, count, _events):
        if wav and count > 0:
            chunks.append(ctypes.string_at(wav, count * 2))
        return 0

    callback = _CALLBACK(collect)
    lib.espeak_SetSynthCallback(callback)
    if lib.espeak_SetVoiceByName(request["voice"].encode()) != 0:
        return 3
    for parameter, value in request.get("parameters", []):
        lib.espeak_SetParameter(int(parameter), int(value), 0)
    lib.espeak_ng_SetRandSeed(ctypes.c_long(int(request.get("seed", 0))))  # else seeded from the clock
    data = request["text"].encode("utf-8")
    if lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _UTF8, None, None) != 0:
        return 4
    view = memoryview(b"".join(chunks))
    while view:
        view = view[os.write(fd, view):]
    return 0


def _speak(lib, request):
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            status = _child(lib, write_fd, request)
        except BaseException:  # noqa: BLE001 - never return into the server loop from the child
            status = 5
        os._exit(status)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        payload = pipe.read()
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return payload, (None if code == 0 else _ERRORS.get(code, f"synthesis child exited with status {code}"))


def _die_with_parent(parent):
    """SIGKILL this server when the process that started it dies (Linux); exit now if it already has."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
        except (OSError, AttributeError):
            pass
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def main(argv):
    library_path, data_path = argv[1], argv[2]
    _die_with_parent(int(argv[3]) if len(argv) > 3 else None)
    out = sys.stdout.buffer
    lib, rate = _load(library_path, data_path)
    if rate <= 0:
        out.write(json.dumps({"ok": False, "error": f"espeak-ng could not initialise with data at {data_path}"}).encode() + b"\n")
        out.flush()
        return 1
    version = (lib.espeak_Info(None) or b"unknown").decode()
    out.write(json.dumps({"ok": True, "rate": rate, "version": version}).encode() + b"\n")
    out.flush()
    for line in sys.stdin.buffer:
        try:
            request = json.loads(line)
            payload, error = _speak(lib, request)
        except (ValueError, KeyError, TypeError) as exc:
            payload, error = b"", f"bad request: {exc}"
        if error is None:
            out.write(json.dumps({"ok": True, "rate": rate, "bytes": len(payload)}).encode() + b"\n")
            out.write(payload)
        else:
            out.write(json.dumps({"ok": False, "error": error}).encode() + b"\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
