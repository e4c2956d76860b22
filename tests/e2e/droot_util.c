#include "tests/e2e/droot_util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/e2e/run_util.h"
#include "tests/e2e/truth_util.h"

int droot_find(struct droot *d, const char *root_name, const char *python)
{
	const char *roots = getenv("TG_ROOTS");

	memset(d, 0, sizeof *d);
	snprintf(d->root, sizeof d->root, "%s/%s",
		 roots && *roots ? roots : "/var/tmp/tgattach-roots", root_name);
	snprintf(d->python, sizeof d->python, "/usr/bin/%s", python);
	snprintf(d->exe, sizeof d->exe, "%s%s", d->root, d->python);
	return access(d->exe, X_OK) == 0 ? 0 : -1;
}

/* Copy fixtures/NAME (from the repository root, the current directory) into DIR. */
static void copy_fixture(const char *dir, const char *name)
{
	char src[PATH_MAX], cwd[PATH_MAX], copy[PATH_MAX + 64];

	cr_assert_not_null(getcwd(cwd, sizeof cwd));
	snprintf(src, sizeof src, "%s/fixtures/%s", cwd, name);
	snprintf(copy, sizeof copy, "%s/%s", dir, name);
	char *text = truth_read_text(src);
	cr_assert_not_null(text, "cannot read %s", src);
	FILE *f = fopen(copy, "w");
	cr_assert_not_null(f, "cannot create %s", copy);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
	free(text);
}

void droot_stage(struct droot *d, const char *fixture)
{
	snprintf(d->dir, sizeof d->dir, "%s/tmp/tgattach-test-XXXXXX", d->root);
	cr_assert_not_null(mkdtemp(d->dir), "mkdtemp in %s", d->root);
	const char *inside = d->dir + strlen(d->root);
	snprintf(d->fixture, sizeof d->fixture, "%s/%s", inside, fixture);
	snprintf(d->truth, sizeof d->truth, "%s/truth.txt", inside);
	snprintf(d->truth_host, sizeof d->truth_host, "%s/truth.txt", d->dir);
	copy_fixture(d->dir, fixture);
	if (strcmp(fixture, "threads.py") != 0)
		copy_fixture(d->dir, "threads.py"); /* the truth writer fixtures share */
}

void droot_argv(const struct droot *d, int hidden, char *const *args, char **argv, size_t max)
{
	static char *const hide[] = {"unshare",
				     "--mount",
				     "--propagation",
				     "private",
				     "sh",
				     "-c",
				     "mount -t tmpfs tgattach-hide \"$0/usr/lib/debug\" && "
				     "exec chroot \"$0\" \"$@\""};
	size_t n = 0;

	if (hidden)
		for (size_t i = 0; i < sizeof hide / sizeof hide[0] && n + 1 < max; i++)
			argv[n++] = hide[i];
	else
		argv[n++] = "chroot";
	argv[n++] = (char *)d->root;
	argv[n++] = (char *)d->python;
	for (size_t i = 0; args[i] && n + 1 < max; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
}

void droot_cleanup(struct droot *d)
{
	if (d->dir[0])
		remove_tree(d->dir);
	d->dir[0] = '\0';
}
