/* unwind.h: the native (C) stack of one stopped thread, unwound with libdw's Dwfl
 * unwinder from the CFI of each mapped object (.eh_frame, .debug_frame), and named: the
 * function from the ELF symbols or DWARF (inlined functions as frames of their own where
 * DWARF has them), the source file and line where DWARF has them, else the object's file
 * name.  Debug files are found by build-id or .gnu_debuglink, under the target's root too
 * (symbols/dwarf.h); nothing is fetched from the network.
 *
 * The modules (one per mapped object) are reported once and again only when
 * /proc/PID/maps changed, which is looked at when a pc fell in no module and at most every
 * second otherwise (unwind_sample_begin).  The thread must stay stopped for the
 * whole of unwind_thread(): its registers come from the caller (PTRACE_GETREGS) and its
 * stack is read with process_vm_readv.  Every loop is bounded: at most UNWIND_MAX_FRAMES
 * frames, and the unwind stops at a frame whose stack pointer does not go up. */
#ifndef TG_UNWIND_H
#define TG_UNWIND_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/user.h>

#include "common/err.h"
#include "sampler/walk.h"

#define UNWIND_MAX_FRAMES 256

struct unwinder;

/* An unwinder for process pid.  eval_names: the interpreter's evaluation functions (NULL
 * terminated), whose frames are marked WALK_NATIVE_EVAL (a name matches also with a
 * `.suffix`, such as the `.cold` part of a split function).  debug_files 0: no detached
 * debug file is read (`--offsets=builtin`: what a machine without -dbg packages sees);
 * each object's own symbols and DWARF still are. */
struct unwinder *unwind_new(pid_t pid, const char *const *eval_names, int debug_files,
			    struct tg_err *err);
void unwind_free(struct unwinder *u);

/* Before the threads of a sample: report the modules again if the mappings changed, and
 * forget the names kept when there are too many (frames handed out before this call may
 * point at them; none handed out after it).  -1 with err when no module can be reported. */
int unwind_sample_begin(struct unwinder *u, struct tg_err *err);

/* One unwind's frames before they are named (their addresses and objects), valid until the
 * next unwind_sample_begin(). */
struct unwind_raw;
struct unwind_raw *unwind_raw_new(void);
void unwind_raw_free(struct unwind_raw *raw);

/* Unwind stopped thread tid from regs: its frames' addresses only, into raw (at most
 * UNWIND_MAX_FRAMES), so that the thread is held no longer than that.  Returns how many
 * (0 when not even the first could be read). */
size_t unwind_thread(struct unwinder *u, pid_t tid, const struct user_regs_struct *regs,
		     struct unwind_raw *raw);
/* An unwind's frames named, once the thread runs again (and from any thread of the
 * caller's: nothing of the target is read): into out (innermost first, at most max, inlined
 * functions expanded), each frame's native WALK_NATIVE or WALK_NATIVE_EVAL, code_info its
 * names (owned by u, valid until the next unwind_sample_begin that forgets them), line the
 * source line or -1, addr the frame's stack pointer, code its function's identity, pos its
 * pc.  Returns how many. */
size_t unwind_frames(struct unwinder *u, const struct unwind_raw *raw, struct walk_frame *out,
		     size_t max);

/* Cumulative counts, for benchmarks and meta: threads unwound, frames, module reports. */
void unwind_counts(const struct unwinder *u, uint64_t *threads, uint64_t *frames,
		   uint64_t *reports);

#endif
