/* unwind.c: see unwind.h.
 *
 * The modules are reported from /proc/PID/maps, each file path taken under the target's
 * root (/proc/PID/root: a chroot or a container sees other files than we do), by
 * libdwfl's own maps reader fed a copy of the maps with the paths so rewritten.  Debug
 * files are looked for by symbols/dwarf's rules (build-id, debuglink, under the root
 * too): libdwfl's standard finder would ask a debuginfod server when the environment
 * names one, and a profiler beside a production server must not. */
#include "sampler/unwind.h"

#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attach/remote.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/rdopen.h"
#include "common/xalloc.h"
#include "sampler/unwind_names.h"
#include "symbols/dwarf.h"

#define PAGE_SLOTS 16 /* stack pages kept during one unwind (a stack is read a word at a time) */
#define PAGE 4096u
#define MAPS_MAX (64u << 20)
#define MAPS_EVERY_S 1.0

struct page {
	uint64_t addr;
	int state; /* 0 empty, 1 read, -1 unreadable */
	unsigned char bytes[PAGE];
};

struct raw_frame {
	uint64_t pc, sp;
	uint64_t look; /* the pc named: a return address moved into its call instruction */
	Dwfl_Module *mod;
};

struct unwind_raw {
	size_t n;
	struct raw_frame f[UNWIND_MAX_FRAMES];
};

struct unwinder {
	pid_t pid;
	struct remote r;
	Dwfl *dwfl;
	Dwfl_Callbacks cb;
	char *debug_path;
	struct buf maps; /* /proc/PID/maps as last reported */
	struct unwind_names *names;
	/* the unwind under way, and its frames before they are named */
	pid_t tid;
	const struct user_regs_struct *regs;
	struct unwind_raw *raw;
	uint64_t last_sp;
	struct page pages[PAGE_SLOTS];
	uint64_t threads, frames, reports;
	int missed;	  /* a pc in no module since the maps were read */
	double maps_read; /* when (monotonic s) */
};

/* ---- finding files ---- */

/* "/proc/PID/root" + the path the target sees, as the maps copy names it. */
static int split_root(const char *path, char *root, size_t rootlen, const char **rest)
{
	int pid, end = 0;

	if (sscanf(path, "/proc/%d/root%n", &pid, &end) != 1 || end == 0 || path[end] != '/')
		return -1;
	snprintf(root, rootlen, "/proc/%d/root", pid);
	*rest = path + end;
	return 0;
}

static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, GElf_Addr base,
			  const char *file_name, const char *debuglink_file,
			  GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	const unsigned char *bits;
	GElf_Addr vaddr;
	char root[64], build_id[41] = "", found[4096];
	const char *image;
	(void)userdata, (void)modname, (void)base, (void)debuglink_crc;

	const struct unwinder *u = *userdata;

	if (!file_name)
		return -1;
	/* the debug files the target would see, under its root (a path of our own mount
	 * namespace in its maps: a chroot; its debug files are still under its root) */
	if (split_root(file_name, root, sizeof root, &image) < 0) {
		snprintf(root, sizeof root, "/proc/%d/root", u ? (int)u->pid : 0);
		image = file_name;
	}
	int len = dwfl_module_build_id(mod, &bits, &vaddr);
	for (int i = 0; i < len && i < 20; i++)
		snprintf(build_id + 2 * i, 3, "%02x", bits[i]);
	if (dwarf_find_debug_file(root, image, build_id, debuglink_file ? debuglink_file : "",
				  found, sizeof found) < 0)
		return -1;
	int fd = tg_rdopen_fd(found);
	if (fd >= 0)
		*debuginfo_file_name = xstrdup(found);
	return fd;
}

/* A mapped object's file.  The target may replace a path it maps with a FIFO: it is opened
 * without blocking, and used only when it is a regular file.  The vdso is libdwfl's. */
static int find_elf(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
		    char **file_name, Elf **elfp)
{
	if (modname[0] != '/')
		return dwfl_linux_proc_find_elf(mod, userdata, modname, base, file_name, elfp);
	int fd = tg_rdopen_fd(modname);
	if (fd >= 0)
		*file_name = xstrdup(modname);
	return fd;
}

static int no_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, GElf_Addr base,
			const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
			char **debuginfo_file_name)
{
	(void)mod, (void)userdata, (void)modname, (void)base, (void)file_name;
	(void)debuglink_file, (void)debuglink_crc, (void)debuginfo_file_name;
	return -1;
}

/* ---- the modules ---- */

static int read_maps(pid_t pid, struct buf *out)
{
	char path[64], chunk[8192];
	ssize_t got;

	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	buf_reset(out);
	while ((got = read(fd, chunk, sizeof chunk)) > 0 && out->len < MAPS_MAX)
		buf_add(out, chunk, (size_t)got);
	close(fd);
	return got < 0 ? -1 : 0;
}

/* The lines of maps that map a file, or the vdso: what the modules are made of.  Anonymous
 * mappings (heaps, arenas, stacks) come and go all the time and change no module. */
static void module_lines(const struct buf *maps, struct buf *out)
{
	const char *p = buf_cstr(maps), *end = p + maps->len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		const char *slash = memchr(p, '/', (size_t)(eol - p));
		const char *vdso = memchr(p, '[', (size_t)(eol - p));
		if (slash ||
		    (vdso && (size_t)(eol - vdso) >= 6 && memcmp(vdso, "[vdso]", 6) == 0)) {
			buf_add(out, p, (size_t)(eol - p));
			buf_addch(out, '\n');
		}
		p = eol + 1;
	}
}

/* Is path, under the target's root, a file there? */
static int rooted_exists(pid_t pid, const char *path, size_t len)
{
	char full[4200];
	struct stat st;

	if (len > 4096)
		return 0;
	snprintf(full, sizeof full, "/proc/%d/root%.*s", (int)pid, (int)len, path);
	return stat(full, &st) == 0 && S_ISREG(st.st_mode);
}

/* The maps with each file path under the target's root where it is a file there (a
 * chroot in the same mount namespace shows our paths in its maps: those stay as they
 * are). */
static void rooted_maps(pid_t pid, const struct buf *maps, struct buf *out)
{
	const char *p = buf_cstr(maps), *end = p + maps->len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		const char *slash = memchr(p, '/', (size_t)(eol - p));
		if (slash && rooted_exists(pid, slash, (size_t)(eol - slash))) {
			buf_add(out, p, (size_t)(slash - p));
			buf_addf(out, "/proc/%d/root", (int)pid);
			buf_add(out, slash, (size_t)(eol - slash));
		} else {
			buf_add(out, p, (size_t)(eol - p));
		}
		buf_add(out, "\n", 1);
		p = eol + 1;
	}
}

static pid_t cb_next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	(void)dwfl, (void)arg, (void)thread_argp;
	return 0; /* threads are named by get_thread only */
}

static bool cb_get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
	struct unwinder *u = arg;
	(void)dwfl;

	*thread_argp = u;
	return tid == u->tid;
}

static bool cb_memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	struct unwinder *u = arg;
	uint64_t base = addr & ~(uint64_t)(PAGE - 1);
	struct page *pg = &u->pages[(base / PAGE) % PAGE_SLOTS];
	(void)dwfl;

	if ((addr & 7) || addr - base > PAGE - 8)
		return remote_read(&u->r, addr, result, sizeof *result) == 0;
	if (pg->state == 0 || pg->addr != base) {
		pg->addr = base;
		pg->state = remote_read(&u->r, base, pg->bytes, PAGE) == 0 ? 1 : -1;
	}
	if (pg->state < 0)
		return remote_read(&u->r, addr, result, sizeof *result) == 0;
	memcpy(result, pg->bytes + (addr - base), sizeof *result);
	return true;
}

static bool cb_set_initial_registers(Dwfl_Thread *thread, void *arg)
{
	const struct user_regs_struct *r = ((struct unwinder *)arg)->regs;
	/* DWARF's x86-64 numbering: rax rdx rcx rbx rsi rdi rbp rsp r8-r15, then the rip */
	Dwarf_Word v[17] = {r->rax, r->rdx, r->rcx, r->rbx, r->rsi, r->rdi, r->rbp, r->rsp, r->r8,
			    r->r9,  r->r10, r->r11, r->r12, r->r13, r->r14, r->r15, r->rip};

	return dwfl_thread_state_registers(thread, 0, 17, v);
}

static const Dwfl_Thread_Callbacks thread_cbs = {
    .next_thread = cb_next_thread,
    .get_thread = cb_get_thread,
    .memory_read = cb_memory_read,
    .set_initial_registers = cb_set_initial_registers,
};

/* Each module's userdata is the unwinder (find_debuginfo wants the target's root); its
 * file is opened and its .eh_frame read now, not in the first unwind that needs it, while
 * a thread is held. */
static int set_userdata(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr start,
			void *arg)
{
	Dwarf_Addr bias;
	(void)name, (void)start;

	*userdata = arg;
	dwfl_module_eh_cfi(mod, &bias);
	return DWARF_CB_OK;
}

/* A fresh Dwfl over the mappings in u->maps. */
static int report(struct unwinder *u, struct tg_err *err)
{
	struct buf rooted = BUF_INIT;

	if (u->dwfl)
		dwfl_end(u->dwfl);
	u->dwfl = dwfl_begin(&u->cb);
	if (!u->dwfl)
		return tg_err_set(err, TG_E_INTERNAL, "unwind process %d: dwfl_begin: %s",
				  (int)u->pid, dwfl_errmsg(-1));
	rooted_maps(u->pid, &u->maps, &rooted);
	FILE *f = fmemopen(rooted.data, rooted.len ? rooted.len : 1, "r");
	int rc = f ? dwfl_linux_proc_maps_report(u->dwfl, f) : -1;
	if (f)
		fclose(f);
	buf_free(&rooted);
	if (rc == 0 && dwfl_report_end(u->dwfl, NULL, NULL) == 0)
		dwfl_getmodules(u->dwfl, set_userdata, u, 0);
	else
		rc = -1;
	if (rc != 0 || !dwfl_attach_state(u->dwfl, NULL, u->pid, &thread_cbs, u)) {
		tg_err_set(err, TG_E_INTERNAL, "unwind process %d: report its modules: %s",
			   (int)u->pid, dwfl_errmsg(-1));
		dwfl_end(u->dwfl);
		u->dwfl = NULL;
		return -1;
	}
	u->reports++;
	return 0;
}

struct unwinder *unwind_new(pid_t pid, const char *const *eval_names, int debug_files,
			    struct tg_err *err)
{
	struct unwinder *u = xcalloc(1, sizeof *u);
	char path[128];

	u->pid = pid;
	remote_init_process(&u->r, pid);
	snprintf(path, sizeof path, ":.debug:/usr/lib/debug:/proc/%d/root/usr/lib/debug", (int)pid);
	u->debug_path = xstrdup(path);
	u->cb.find_elf = find_elf;
	u->cb.find_debuginfo = debug_files ? find_debuginfo : no_debuginfo;
	u->cb.debuginfo_path = &u->debug_path;
	u->names = unames_new(eval_names);
	if (unwind_sample_begin(u, err) < 0) {
		unwind_free(u);
		return NULL;
	}
	return u;
}

void unwind_free(struct unwinder *u)
{
	if (!u)
		return;
	if (u->dwfl)
		dwfl_end(u->dwfl);
	unames_free(u->names);
	buf_free(&u->maps);
	remote_close(&u->r);
	free(u->debug_path);
	free(u);
}

int unwind_sample_begin(struct unwinder *u, struct tg_err *err)
{
	struct buf now = BUF_INIT;

	unames_trim(u->names, 0);
	/* the maps cost about 0.5 µs per line to read: again only after a pc fell in no
	 * module, and at most every MAPS_EVERY_S otherwise (an object unloaded, another
	 * loaded where it was) */
	double t = clock_mono_s();
	if (u->dwfl && !u->missed && t - u->maps_read < MAPS_EVERY_S)
		return 0;
	u->missed = 0;
	u->maps_read = t;
	struct buf all = BUF_INIT;
	if (read_maps(u->pid, &all) < 0) {
		buf_free(&all);
		return tg_err_sys(err, TG_E_NOPROC, "unwind process %d: read /proc/%d/maps",
				  (int)u->pid, (int)u->pid);
	}
	module_lines(&all, &now);
	buf_free(&all);
	int same =
	    u->dwfl && now.len == u->maps.len && memcmp(now.data, u->maps.data, now.len) == 0;
	buf_free(&u->maps);
	u->maps = now;
	if (same)
		return 0;
	unames_trim(u->names, 1);
	return report(u, err);
}

/* ---- one thread ---- */

static int on_frame(Dwfl_Frame *state, void *arg)
{
	struct unwinder *u = arg;
	Dwarf_Addr pc;
	bool activation;
	Dwarf_Word sp = 0;

	struct unwind_raw *raw = u->raw;

	if (raw->n >= UNWIND_MAX_FRAMES || !dwfl_frame_pc(state, &pc, &activation))
		return DWARF_CB_ABORT;
	if (dwfl_frame_reg(state, 7, &sp) != 0)
		sp = 0;
	/* the stack grows down: a caller's frame lies above its callee's */
	if (raw->n > 0 && sp && u->last_sp && sp < u->last_sp)
		return DWARF_CB_ABORT;
	u->last_sp = sp;
	uint64_t look = activation || pc == 0 ? pc : pc - 1; /* into the call instruction */
	Dwfl_Module *mod = dwfl_addrmodule(u->dwfl, look);
	if (!mod) { /* a pc in nothing reported: a library loaded since, or garbage */
		u->missed = 1;
		return raw->n == 0 ? DWARF_CB_OK : DWARF_CB_ABORT;
	}
	raw->f[raw->n++] = (struct raw_frame){pc, sp, look, mod};
	return DWARF_CB_OK;
}

struct unwind_raw *unwind_raw_new(void)
{
	return xcalloc(1, sizeof(struct unwind_raw));
}

void unwind_raw_free(struct unwind_raw *raw)
{
	free(raw);
}

size_t unwind_frames(struct unwinder *u, const struct unwind_raw *unwound, struct walk_frame *out,
		     size_t max)
{
	size_t n = 0;

	for (size_t r = 0; r < unwound->n; r++) {
		const struct raw_frame *raw = &unwound->f[r];
		const struct unwind_name *names;
		size_t k = unames_at(u->names, raw->mod, raw->look, &names);
		for (size_t i = 0; i < k && n < max; i++) {
			struct walk_frame *f = &out[n++];
			memset(f, 0, sizeof *f);
			f->addr = raw->sp;
			f->code = names[i].id;
			f->pos = (int64_t)raw->pc;
			f->code_info = &names[i].ci;
			f->line = names[i].line;
			f->native = names[i].eval ? WALK_NATIVE_EVAL : WALK_NATIVE;
		}
	}
	u->frames += n;
	return n;
}

size_t unwind_thread(struct unwinder *u, pid_t tid, const struct user_regs_struct *regs,
		     struct unwind_raw *raw)
{
	raw->n = 0;
	if (!u->dwfl)
		return 0;
	u->raw = raw;
	u->tid = tid;
	u->regs = regs;
	u->last_sp = 0;
	for (size_t i = 0; i < PAGE_SLOTS; i++)
		u->pages[i].state = 0;
	dwfl_getthread_frames(u->dwfl, tid, on_frame, u); /* its end is an error often */
	u->threads++;
	u->raw = NULL;
	return raw->n;
}

void unwind_counts(const struct unwinder *u, uint64_t *threads, uint64_t *frames, uint64_t *reports)
{
	*threads = u->threads;
	*frames = u->frames;
	*reports = u->reports;
}
