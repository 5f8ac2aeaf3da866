/* dirtylogd's admin client modes: `--list` (ADMIN_LIST, page by page) and
 * `--release` (ADMIN_RELEASE), each one connection to the running daemon.
 * They return the process's exit status: 0, 1 (failed), 2 (bad argument). */
#ifndef DLD_ADMIN_H
#define DLD_ADMIN_H

int dld_admin_list(const char *socket_path, int json);
int dld_admin_release(const char *socket_path, const char *spec);

#endif
