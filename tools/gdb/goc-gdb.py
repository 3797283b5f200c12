# goc-gdb.py — goroutines in gdb, as Go's runtime-gdb.py does for Go.
#
# A parked goroutine lives on its own stack, which no thread is running,
# so gdb's `info threads` / `bt` cannot see it. This script walks goc's
# list of goroutines and unwinds a parked one from the registers that
# goc__ctx_switch saved on its stack.
#
#   gdb -p PID                  (or: gdb ./prog core, or: gdb --args ./prog)
#   (gdb) source tools/gdb/goc-gdb.py     (auto-loaded with libgoc.so, below)
#   (gdb) info goroutines       every goroutine: id, state, wait reason, name
#   (gdb) goroutine 7 bt        backtrace of goroutine 7
#   (gdb) goroutine 7 info locals     any gdb command, run "on" goroutine 7
#   (gdb) goroutine all bt      every goroutine's backtrace
#   (gdb) p *$goroutine(7)      its struct goc__g
#
# The goroutine may be an expression: `goroutine some_id_variable bt`.
# A goroutine running on a thread has no saved registers: the command runs
# on that thread instead (`thread N` selects it by hand). `info goroutines`
# marks with * the goroutine the selected thread runs. Commands that would
# resume the program (continue, step, finish, call, ...) are refused: the
# thread would run the parked goroutine behind the scheduler's back.
#
# Loading: gdb auto-loads this file for libgoc.so when it is installed as
# <datadir>/gdb/auto-load/<libdir>/libgoc.so.<version>-gdb.py (cmake
# --install does that) and that directory is in gdb's auto-load
# safe-path; the build tree has a copy beside build/libgoc.so.<version>
# (`set auto-load safe-path /` to trust it). A program linked with
# libgoc.a has to `source` it (also installed as <datadir>/goc/goc-gdb.py).
#
# Needs goc's debug information (a RelWithDebInfo or Debug build: the
# symbols are hidden but stay in the symbol table and DWARF) and an
# x86-64 or AArch64 target.
#
# How a parked goroutine is unwound: on a live process as Go's script
# does it, by setting the selected thread's registers to the goroutine's
# saved ones, running the command, and restoring them. A core file's
# registers cannot be written; there a Python unwinder makes the
# goroutine's registers the caller of the thread's newest frame instead,
# and that frame is left out of the output: the goroutine's backtrace
# starts at #1 (and `goroutine 7 frame 3` means its #3).

import contextlib
import sys

import gdb

try:
    import gdb.unwinder
except ImportError:  # a gdb built without the unwinder API: live only
    pass


# ---- the saved frame -----------------------------------------------------
# goc__ctx_switch (src/runtime/switch_<arch>.S) leaves, at the saved sp,
# the callee-saved registers of the caller and its return address. As if
# the switch had just returned: pc = that address, sp = just above the
# frame, and the callee-saved registers as saved.


class _Arch(object):
    def __init__(self, name, pc, sp, size, saved, ret):
        self.name = name
        self.pc = pc  # gdb's register names
        self.sp = sp
        self.size = size  # bytes the switch pushed
        self.saved = saved  # [(register, offset from the saved sp)]
        self.ret = ret  # offset of the return address

    def read(self, sp):
        """The registers of the goroutine whose saved sp is sp."""
        mem = bytes(gdb.selected_inferior().read_memory(sp, self.size))

        def word(off):
            return int.from_bytes(mem[off : off + 8], "little")

        regs = [(r, word(off)) for r, off in self.saved]
        regs.append((self.sp, sp + self.size))
        regs.append((self.pc, word(self.ret)))
        return regs


# sp+0 MXCSR/x87 CW, sp+8 r15 r14 r13 r12 rbx rbp, sp+56 return address.
_X86_64 = _Arch(
    "x86-64",
    "rip",
    "rsp",
    64,
    [("r15", 8), ("r14", 16), ("r13", 24), ("r12", 32), ("rbx", 40), ("rbp", 48)],
    56,
)
# sp+0 x19..x28, sp+80 x29 x30 (lr), sp+96 d8..d15, sp+160 FPCR.
_AARCH64 = _Arch(
    "aarch64",
    "pc",
    "sp",
    176,
    [("x%d" % (19 + i), 8 * i) for i in range(12)],
    88,
)


def _arch():
    try:
        name = gdb.selected_inferior().architecture().name()
    except (AttributeError, gdb.error):
        name = gdb.selected_frame().architecture().name()
    if "x86-64" in name:
        return _X86_64
    if "aarch64" in name:
        return _AARCH64
    raise gdb.GdbError("goc: unsupported architecture %s (x86-64 and aarch64 only)" % name)


# ---- reading the runtime's goroutines -------------------------------------


def _enum(name, prefix, fallback):
    """{lower-case name without prefix: value} of an enum of the runtime
    (src/runtime/runtime.h), from the debug information; fallback (the
    values when this script was written) for the names it lacks."""
    e = dict(fallback)
    try:
        t = gdb.lookup_type("enum " + name)
        e.update({f.name[len(prefix) :].lower(): int(f.enumval) for f in t.fields()})
    except gdb.error:
        pass
    return e


class _Consts(object):
    def __init__(self):
        st = _enum(
            "goc__gstatus",
            "GOC__G_",
            {"idle": 0, "runnable": 1, "running": 2, "waiting": 3, "dead": 4, "dumping": 5},
        )
        self.names = {v: n for n, v in st.items()}
        self.names[st["dumping"]] = "waiting"  # pinned by a dump in progress
        self.running = st["running"]
        self.waiting = (st["waiting"], st["dumping"])
        self.saved = (st["waiting"], st["dumping"], st["runnable"])  # sp is valid
        self.gone = (st["idle"], st["dead"])
        fl = _enum("goc__gflags", "GOC__GF_", {"main": 1, "thread": 2, "g0": 4})
        self.not_goroutine = fl["thread"] | fl["g0"]


def _allg_head():
    try:
        head = gdb.parse_and_eval("goc__allg")
    except gdb.error as e:
        raise gdb.GdbError(
            "goc: cannot read goc__allg (%s); is this a goc program with "
            "debug information (RelWithDebInfo)?" % e
        )
    if head.type.code != gdb.TYPE_CODE_PTR:
        raise gdb.GdbError(
            "goc: goc__allg has no type: libgoc was built without debug "
            "information (build it RelWithDebInfo)"
        )
    try:
        head.fetch_lazy()
    except gdb.MemoryError as e:
        raise gdb.GdbError(
            "goc: cannot read goc__allg (%s); does the program match the process or core?" % e
        )
    return head


class _Layout(object):
    """Offsets of the struct goc__g fields read, from the debug info: a
    goroutine is read with one memory read, not one per field (a program
    may have 100,000 of them)."""

    def __init__(self, gptr_type):
        t = gptr_type.target().strip_typedefs()
        self.gptr = gptr_type
        self.size = t.sizeof
        off = {f.name: f.bitpos // 8 for f in t.fields()}
        stack = t["stack"].type.strip_typedefs()
        soff = {f.name: f.bitpos // 8 for f in stack.fields()}
        for f in ("sp", "status", "flags", "fn", "m", "id", "name", "waitreason", "allnext"):
            setattr(self, f, off[f])
        self.stack_lo = off["stack"] + soff["lo"]
        self.stack_hi = off["stack"] + soff["hi"]


_strcache = {}


def _cstring(addr):
    """The C string at addr (cached: names and wait reasons are mostly
    string literals), or None for NULL."""
    if addr == 0:
        return None
    s = _strcache.get(addr)
    if s is None:
        try:
            v = gdb.Value(addr).cast(gdb.lookup_type("char").pointer())
            s = v.string(errors="replace")[:256]
        except (gdb.error, gdb.MemoryError):
            s = "<bad string 0x%x>" % addr
        _strcache[addr] = s
    return s


class _G(object):
    """A snapshot of one struct goc__g."""

    def __init__(self, addr, mem, lay, consts):
        def u64(off):
            return int.from_bytes(mem[off : off + 8], "little")

        def u32(off):
            return int.from_bytes(mem[off : off + 4], "little")

        self.addr = addr
        self.lay = lay
        self.id = u64(lay.id)
        self.status = u32(lay.status)
        self.state = consts.names.get(self.status, "status %d" % self.status)
        self.flags = u32(lay.flags)
        self.sp = u64(lay.sp)
        self.fn = u64(lay.fn)
        self.m = u64(lay.m)
        self.next = u64(lay.allnext)
        self.stack = (u64(lay.stack_lo), u64(lay.stack_hi))
        self._name = u64(lay.name)
        self._reason = u64(lay.waitreason)
        self.running = self.status == consts.running
        self.waiting = self.status in consts.waiting
        self.parked = self.status in consts.saved and self.sp != 0
        self.live = self.status not in consts.gone
        self.is_g = not (self.flags & consts.not_goroutine)
        self.thread = None  # the gdb thread running it, when running

    @property
    def name(self):
        return _cstring(self._name)

    @property
    def reason(self):
        return _cstring(self._reason) if self.waiting else None

    @property
    def ptr(self):
        return gdb.Value(self.addr).cast(self.lay.gptr)


def _goroutines():
    """The live goroutines on goc__allg (dead descriptors are skipped), by
    id. G0s and thread-Gs are never on it; skipped should one be."""
    consts = _Consts()
    head = _allg_head()
    lay = _Layout(head.type)
    inf = gdb.selected_inferior()
    addr = int(head)
    seen = set()
    out = []
    while addr != 0 and addr not in seen:
        seen.add(addr)
        try:
            mem = bytes(inf.read_memory(addr, lay.size))
        except gdb.MemoryError as e:
            gdb.write("goc: allg list cut short at 0x%x: %s\n" % (addr, e), gdb.STDERR)
            break
        g = _G(addr, mem, lay, consts)
        addr = g.next
        if g.live and g.is_g:
            out.append(g)
    out.sort(key=lambda g: g.id)
    _find_threads(out)
    return out


def _find_threads(gs):
    """Set g.thread for the running goroutines: the thread whose pthread_t
    is its M's (goc__m.thread), else the thread whose sp lies on its stack."""
    running = [g for g in gs if g.running]
    if not running:
        return
    inf = gdb.selected_inferior()
    threads = [t for t in inf.threads() if t.is_valid()]
    by_handle = {}
    for t in threads:
        try:
            h = t.handle()
        except Exception:  # no thread library, a remote target, an old gdb
            h = None
        if h:
            by_handle[int.from_bytes(h, sys.byteorder)] = t
    for g in running:
        if g.m == 0:
            continue
        try:
            mt = int(gdb.parse_and_eval("((goc__m *)%d)->thread" % g.m))
        except gdb.error:
            continue
        g.thread = by_handle.get(mt)
    rest = [g for g in running if g.thread is None]
    if not rest:
        return
    with _keep_selection():
        for t in threads:
            try:
                if t.is_running():
                    continue
                t.switch()
                sp = int(gdb.newest_frame().read_register("sp"))
            except gdb.error:
                continue
            for g in rest:
                if g.thread is None and g.stack[0] <= sp < g.stack[1]:
                    g.thread = t


_symcache = {}


def _symbol(pc):
    if pc == 0:
        return "-"
    if pc in _symcache:
        return _symcache[pc]
    name = "0x%x" % pc
    try:
        b = gdb.block_for_pc(pc)
        while b is not None and b.function is None:
            b = b.superblock
        if b is not None:
            name = b.function.name
        else:
            s = gdb.execute("info symbol 0x%x" % pc, to_string=True)
            if not s.startswith("No symbol"):
                name = s.split()[0]
    except (gdb.error, RuntimeError):
        pass
    _symcache[pc] = name
    return name


def _find(expr, gs=None):
    try:
        goid = int(gdb.parse_and_eval(expr))
    except gdb.error as e:
        raise gdb.GdbError("goc: bad goroutine id %r: %s" % (expr, e))
    for g in gs if gs is not None else _goroutines():
        if g.id == goid:
            return g
    raise gdb.GdbError("goc: no goroutine %d" % goid)


# ---- running a command on a parked goroutine -------------------------------


class _FrameId(object):
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class _Unwinder(getattr(gdb, "unwinder", None) and gdb.unwinder.Unwinder or object):
    """For core files: while regs is set, the thread's newest frame
    "returns" into the goroutine (its caller has the goroutine's
    registers)."""

    def __init__(self):
        super(_Unwinder, self).__init__("goc-goroutine")
        self.regs = None
        self.arch = None
        self.below = 0

    def __call__(self, pending):
        regs = self.regs
        if regs is None:
            return None
        if hasattr(pending, "level"):
            if pending.level() != 0:
                return None
        else:
            self.regs = None  # no level(): take the first frame asked for
        # The frame's id says it lies just below the goroutine's frame:
        # gdb stops a backtrace whose frames go down the stack ("previous
        # frame inner to this frame"), and the thread's stack may lie
        # above the goroutine's.
        u64 = gdb.lookup_type("unsigned long")
        pc = pending.read_register(self.arch.pc)
        info = pending.create_unwind_info(_FrameId(gdb.Value(self.below).cast(u64), pc))
        for r, v in regs:
            info.add_saved_register(r, gdb.Value(v).cast(u64))
        return info


_unwinder = None


def _get_unwinder():
    global _unwinder
    if _unwinder is None:
        if not hasattr(gdb, "unwinder"):
            raise gdb.GdbError("goc: this gdb cannot unwind goroutines in a core file")
        _unwinder = _Unwinder()
        gdb.unwinder.register_unwinder(None, _unwinder, replace=True)
    return _unwinder


def _frame_level(frame):
    n = 0
    while frame is not None and frame != gdb.newest_frame():
        frame = frame.newer()
        n += 1
    return n


def _select_level(n):
    f = gdb.newest_frame()
    while n > 0 and f.older() is not None:
        f = f.older()
        n -= 1
    f.select()


@contextlib.contextmanager
def _keep_selection():
    """Restore the selected thread and frame (by level) afterwards."""
    thread = gdb.selected_thread()
    try:
        level = _frame_level(gdb.selected_frame())
    except gdb.error:
        level = 0
    try:
        yield
    finally:
        if thread is not None and thread.is_valid():
            if gdb.selected_thread() != thread:
                thread.switch()
            try:
                _select_level(level)
            except gdb.error:
                pass


def _set_reg(r, v):
    # In the newest frame: in an older one, gdb would write where that
    # frame saved the register (the goroutine's stack).
    gdb.newest_frame().select()
    gdb.execute("set $%s = %d" % (r, v), to_string=True)


def _is_core():
    """Whether the selected inferior is a core file, whose registers cannot
    be written. Decided from the target, not by trying a write: gdb skips
    writing a register that already holds the value written, so on a core
    the first writes may "succeed" (a Debug build's thread can hold the
    same zeros in r15..r13 as the goroutine's saved ones)."""
    inf = gdb.selected_inferior()
    conn = getattr(inf, "connection", None)  # gdb 12 and later
    if conn is not None:
        return conn.type == "core"
    try:
        return "Local core dump file" in gdb.execute("info target", to_string=True)
    except gdb.error:
        return False


def _restore(saved):
    """Write the registers back, newest written first; every one is tried."""
    err = None
    for r, v in reversed(saved):
        try:
            _set_reg(r, v)
        except gdb.error as e:
            err = err or e
    if err is not None:
        raise err


def _run_swapped(arch, regs, cmd, from_tty):
    """Go's way: the thread's registers become the goroutine's, then back.
    False, with the registers as they were, if they cannot be written."""
    with _keep_selection():
        thread = gdb.selected_thread()
        frame = gdb.newest_frame()
        frame.select()
        saved = [(r, int(frame.read_register(r))) for r, _ in regs]
        done = 0
        try:
            for r, v in regs:
                _set_reg(r, v)
                done += 1
        except gdb.error:
            try:
                _restore(saved[:done])
            except gdb.error:
                pass
            return False
        try:
            gdb.execute(cmd, from_tty)
        finally:
            if gdb.selected_thread() != thread:
                thread.switch()  # the command switched threads
            _restore(saved)
    return True


_BT = ("bt", "backtrace", "where", "info stack", "info s")


def _run_unwound(arch, regs, cmd, from_tty):
    """A core file: frames 1.. of the selected thread are the goroutine's.
    Backtraces are printed without frame 0 (so they start at #1, and
    `frame N` means the same frame as in the backtrace); any other command
    runs with frame 1 selected."""
    with _keep_selection():
        u = _get_unwinder()  # registering it resets the frame selection
        u.arch = arch
        u.below = dict(regs)[arch.sp] - arch.size
        u.regs = regs
        gdb.invalidate_cached_frames()
        try:
            _unwound(arch, regs, cmd, from_tty)
        finally:
            u.regs = None
            gdb.invalidate_cached_frames()


def _unwound(arch, regs, cmd, from_tty):
    older = gdb.newest_frame().older()
    if older is None or int(older.pc()) != dict(regs)[arch.pc]:
        raise gdb.GdbError("goc: could not unwind into the goroutine")
    words = cmd.split()
    is_bt = any(cmd == b or cmd.startswith(b + " ") for b in _BT)
    if is_bt:
        # "bt N": one more frame, for the dropped frame 0.
        if len(words) >= 2 and words[-1].isdigit():
            cmd = " ".join(words[:-1] + [str(int(words[-1]) + 1)])
        out = gdb.execute(cmd, from_tty, to_string=True)
        gdb.write(_drop_frame0(out))
    else:
        older.select()
        gdb.execute(cmd, from_tty)


def _drop_frame0(text):
    out = []
    skipping = False
    for line in text.splitlines(True):
        if line.startswith("#"):
            num = line[1:].split(" ", 1)[0]
            if num.isdigit():
                skipping = int(num) == 0
        elif not line.startswith(" "):
            skipping = False
        if not skipping:
            out.append(line)
    return "".join(out)


def _header(g):
    s = "goroutine %d [%s]" % (g.id, g.reason or g.state)
    if g.name:
        s += ' "%s"' % g.name
    return s + ":\n"


# Commands that would resume the program: on a parked goroutine's
# registers, the thread would run the goroutine behind the scheduler's back.
_RESUME = frozenset(
    "c continue n next s step si stepi ni nexti fin finish u until adv advance "
    "j jump r run start starti call kill k signal queue-signal".split()
)


def _run_on(g, cmd, from_tty):
    if cmd.split()[0] in _RESUME:
        raise gdb.GdbError("goc: `%s` would resume the program; select a thread instead" % cmd)
    if g.running:
        if g.thread is None:
            gdb.write(
                "goroutine %d is running on a thread gdb could not find "
                "(see `info threads`)\n" % g.id
            )
            return
        gdb.write(
            "goroutine %d is running on thread %d (LWP %d): `thread %d` selects it; "
            "on that thread:\n" % (g.id, g.thread.num, g.thread.ptid[1], g.thread.num)
        )
        with _keep_selection():
            g.thread.switch()
            gdb.execute(cmd, from_tty)
        return
    if not g.parked:
        gdb.write(
            "goroutine %d has not started yet (it will run %s)\n" % (g.id, _symbol(g.fn))
        )
        return
    arch = _arch()
    try:
        regs = arch.read(g.sp)
    except gdb.MemoryError as e:
        raise gdb.GdbError("goc: cannot read goroutine %d's saved registers: %s" % (g.id, e))
    if _is_core() or not _run_swapped(arch, regs, cmd, from_tty):
        _run_unwound(arch, regs, cmd, from_tty)


# ---- commands ---------------------------------------------------------------


class InfoGoroutines(gdb.Command):
    """List goc's goroutines: id, state, wait reason, name, entry function.

Usage: info goroutines
A * marks the goroutine the selected thread is running; a running
goroutine also shows its thread. Entry is the function it was started with.
See `goroutine ID COMMAND` for one goroutine's backtrace."""

    def __init__(self):
        super(InfoGoroutines, self).__init__("info goroutines", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        if arg.strip():
            raise gdb.GdbError("usage: info goroutines")
        gs = _goroutines()
        if not gs:
            gdb.write("No goroutines.\n")
            return
        cur = gdb.selected_thread()
        rows = []
        for g in gs:
            mark = "*" if g.thread is not None and g.thread == cur else " "
            where = _symbol(g.fn)
            if g.thread is not None:
                where += "  [thread %d]" % g.thread.num
            rows.append((mark, str(g.id), g.state, g.reason or "-", g.name or "-", where))
        head = (" ", "Id", "State", "Wait reason", "Name", "Entry")
        widths = [max(len(r[i]) for r in rows + [head]) for i in range(5)]
        for r in [head] + rows:
            cols = [r[0]] + [r[i].ljust(widths[i]) for i in range(1, 5)] + [r[5]]
            gdb.write(" ".join(cols).rstrip() + "\n")


class GoroutineCmd(gdb.Command):
    """Run a gdb command on a goc goroutine.

Usage: goroutine ID COMMAND     e.g. goroutine 7 bt, goroutine 7 info locals
       goroutine all COMMAND    on every goroutine
ID may be any expression. A parked goroutine is unwound from the registers
its context switch saved; for a running one the command runs on its thread."""

    def __init__(self):
        super(GoroutineCmd, self).__init__("goroutine", gdb.COMMAND_STACK, gdb.COMPLETE_COMMAND)

    def invoke(self, arg, from_tty):
        parts = arg.split(None, 1)
        if len(parts) < 2:
            raise gdb.GdbError("usage: goroutine ID|all COMMAND (e.g. goroutine 7 bt)")
        which, cmd = parts
        gs = _goroutines()
        if which == "all":
            for g in gs:
                gdb.write(_header(g))
                try:
                    _run_on(g, cmd, from_tty)
                except (gdb.error, gdb.GdbError) as e:
                    gdb.write("%s\n" % e)
                gdb.write("\n")
            return
        g = _find(which, gs)
        gdb.write(_header(g))
        _run_on(g, cmd, from_tty)


class GoroutineFn(gdb.Function):
    """$goroutine(ID): the struct goc__g * of goroutine ID."""

    def __init__(self):
        super(GoroutineFn, self).__init__("goroutine")

    def invoke(self, goid):
        goid = int(goid)
        for g in _goroutines():
            if g.id == goid:
                return g.ptr
        raise gdb.GdbError("goc: no goroutine %d" % goid)


InfoGoroutines()
GoroutineCmd()
GoroutineFn()
