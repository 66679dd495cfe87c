/*
 * The `vouch` command's front end when an agent runs (`vouch agent start`, docs/agent.md).
 *
 * A Node process needs ≈ 60 ms to start before Vouch's own code loads; this program needs ≈ 1 ms.
 * With VOUCH_AGENT_SOCK naming a live agent it sends the command line, environment, working
 * directory and umask to the agent, where a Node process that has already loaded Vouch runs the
 * command, and relays that process's stdout, stderr, stdin and terminal mode until it sends an
 * exit status. Without an agent (variable unset, socket gone or refusing) it runs
 * `node bin/vouch.cjs` itself, so the command behaves the same either way.
 *
 * Frames in both directions: one type byte, a 4-byte big-endian payload length, the payload.
 *   to the agent:   'R' request (NUL-terminated fields, see send_request), 'D' stdin bytes,
 *                   'Z' end of stdin
 *   from the agent: 'O' stdout bytes, 'E' stderr bytes, 'W' start reading stdin,
 *                   'M' terminal mode ("1" raw, "0" as before), 'X' exit status (decimal),
 *                   'F' declined before anything ran (run the command here instead)
 * The protocol version is the request's first field; an agent refuses one it does not speak.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#define PROTOCOL "vouch-agent/1"
#define MAX_FRAME (16u * 1024u * 1024u)

extern char **environ;

/* The installation this program belongs to: the directory above its own (dist/). */
static char install_dir[PATH_MAX];

static struct termios saved_mode;
static volatile sig_atomic_t mode_saved = 0;

static void restore_terminal(void) {
  if (mode_saved) tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_mode);
}

/* A signal while the terminal is raw (a passphrase prompt) must not leave it raw. */
static void on_signal(int sig) {
  restore_terminal();
  signal(sig, SIG_DFL);
  raise(sig);
}

static void set_raw(int raw) {
  if (!isatty(STDIN_FILENO)) return;
  if (!raw) {
    restore_terminal();
    return;
  }
  if (!mode_saved) {
    if (tcgetattr(STDIN_FILENO, &saved_mode) != 0) return;
    mode_saved = 1;
  }
  /* The same settings as Node's setRawMode(true) (libuv's UV_TTY_MODE_RAW). */
  struct termios t = saved_mode;
  t.c_iflag &= ~(tcflag_t)(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
  t.c_oflag |= ONLCR;
  t.c_cflag |= CS8;
  t.c_lflag &= ~(tcflag_t)(ECHO | ICANON | IEXTEN | ISIG);
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  tcsetattr(STDIN_FILENO, TCSADRAIN, &t);
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = fd == STDOUT_FILENO || fd == STDERR_FILENO ? write(fd, p, n) : send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        poll(&pfd, 1, -1);
        continue;
      }
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int send_frame(int sock, char type, const char *payload, size_t n) {
  unsigned char head[5] = {(unsigned char)type, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                           (unsigned char)(n >> 8), (unsigned char)n};
  if (write_all(sock, (const char *)head, 5) != 0) return -1;
  return write_all(sock, payload, n);
}

/* A growable buffer of NUL-terminated fields. */
struct fields {
  char *data;
  size_t len, cap;
};

static void add_field(struct fields *f, const char *s) {
  size_t n = strlen(s) + 1;
  if (f->len + n > f->cap) {
    size_t cap = f->cap == 0 ? 4096 : f->cap;
    while (f->len + n > cap) cap *= 2;
    char *d = realloc(f->data, cap);
    if (d == NULL) {
      fputs("vouch: out of memory\n", stderr);
      exit(1);
    }
    f->data = d;
    f->cap = cap;
  }
  memcpy(f->data + f->len, s, n);
  f->len += n;
}

/*
 * Fields: protocol, installation directory, working directory, umask (octal), which of stdin/stdout/stderr are terminals
 * ("101"), terminal columns, argument count, the arguments after argv[0], then every environment
 * entry.
 */
static int send_request(int sock, int argc, char **argv) {
  struct fields f = {0};
  char num[32];
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof cwd) == NULL) return -1;
  add_field(&f, PROTOCOL);
  add_field(&f, install_dir);
  add_field(&f, cwd);
  mode_t mask = umask(0);
  umask(mask);
  snprintf(num, sizeof num, "%o", (unsigned)mask);
  add_field(&f, num);
  char ttys[4] = {isatty(0) ? '1' : '0', isatty(1) ? '1' : '0', isatty(2) ? '1' : '0', 0};
  add_field(&f, ttys);
  struct winsize ws;
  int cols = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 ? ws.ws_col : ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 ? ws.ws_col : 0;
  snprintf(num, sizeof num, "%d", cols);
  add_field(&f, num);
  snprintf(num, sizeof num, "%d", argc - 1);
  add_field(&f, num);
  for (int i = 1; i < argc; i++) add_field(&f, argv[i]);
  for (char **e = environ; *e != NULL; e++) add_field(&f, *e);
  int rc = f.len > MAX_FRAME ? -1 : send_frame(sock, 'R', f.data, f.len);
  free(f.data);
  return rc;
}

static int read_exact(int fd, char *p, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

#define RUN_HERE (-2)

/*
 * Relays frames until the exit status arrives; returns it, RUN_HERE if the agent declined the
 * command before running anything ('F': another installation or protocol), or -1 if the agent
 * went away.
 */
static int relay(int sock) {
  int want_stdin = 0, stdin_open = 1;
  char *buf = NULL;
  size_t cap = 0;
  for (;;) {
    struct pollfd pfd[2] = {{sock, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    nfds_t n = want_stdin && stdin_open ? 2 : 1;
    if (poll(pfd, n, -1) < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 2 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      char in[65536];
      ssize_t r = read(STDIN_FILENO, in, sizeof in);
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r <= 0) {
        stdin_open = 0;
        if (send_frame(sock, 'Z', "", 0) != 0) return -1;
      } else if (send_frame(sock, 'D', in, (size_t)r) != 0) {
        return -1;
      }
    }
    if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    unsigned char head[5];
    if (read_exact(sock, (char *)head, 5) != 0) return -1;
    uint32_t len = (uint32_t)head[1] << 24 | (uint32_t)head[2] << 16 | (uint32_t)head[3] << 8 | head[4];
    if (len > MAX_FRAME) return -1;
    if (len + 1 > cap) {
      cap = len + 1;
      free(buf);
      buf = malloc(cap);
      if (buf == NULL) return -1;
    }
    if (read_exact(sock, buf, len) != 0) return -1;
    buf[len] = 0;
    switch (head[0]) {
      case 'O':
        if (write_all(STDOUT_FILENO, buf, len) != 0 && errno == EPIPE) {
          restore_terminal();
          signal(SIGPIPE, SIG_DFL);
          raise(SIGPIPE);
        }
        break;
      case 'E':
        write_all(STDERR_FILENO, buf, len);
        break;
      case 'W':
        want_stdin = 1;
        break;
      case 'M':
        set_raw(buf[0] == '1');
        break;
      case 'F':
        free(buf);
        return RUN_HERE;
      case 'X': {
        int code = atoi(buf);
        free(buf);
        return code < 0 || code > 255 ? 1 : code;
      }
      default:
        return -1;
    }
  }
}

static int connect_agent(const char *path) {
  struct sockaddr_un addr;
  if (strlen(path) >= sizeof addr.sun_path) return -1;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  strcpy(addr.sun_path, path);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}


static int find_installation(void) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return -1;
  self[n] = 0;
  for (int up = 0; up < 2; up++) {
    char *slash = strrchr(self, '/');
    if (slash == NULL) return -1;
    *slash = 0;
  }
  if (strlen(self) >= sizeof install_dir) return -1;
  strcpy(install_dir, self[0] == 0 ? "/" : self);
  return 0;
}

/* `node <installation>/bin/vouch.cjs args…`: the command without an agent. */
static int run_directly(int argc, char **argv) {
  char entry[PATH_MAX + 32];
  snprintf(entry, sizeof entry, "%s/bin/vouch.cjs", install_dir);
  char **args = calloc((size_t)argc + 2, sizeof *args);
  if (args == NULL) return 1;
  const char *node = getenv("VOUCH_NODE");
  args[0] = (char *)(node != NULL && node[0] != 0 ? node : "node");
  args[1] = entry;
  for (int i = 1; i < argc; i++) args[i + 1] = argv[i];
  execvp(args[0], args);
  fprintf(stderr, "vouch: cannot run %s: %s\n", args[0], strerror(errno));
  return 127;
}

int main(int argc, char **argv) {
  if (find_installation() != 0) {
    fputs("vouch: cannot find the vouch installation (/proc/self/exe)\n", stderr);
    return 1;
  }
  const char *path = getenv("VOUCH_AGENT_SOCK");
  int sock = path != NULL && path[0] != 0 ? connect_agent(path) : -1;
  if (sock < 0) return run_directly(argc, argv);
  if (send_request(sock, argc, argv) != 0) {
    /* Nothing ran yet: the command can still run here. */
    close(sock);
    return run_directly(argc, argv);
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGHUP, on_signal);
  signal(SIGQUIT, on_signal);
  int code = relay(sock);
  restore_terminal();
  close(sock);
  if (code == RUN_HERE) return run_directly(argc, argv);
  if (code < 0) {
    fputs("vouch: the agent ended the command without an exit status (see the agent's log)\n", stderr);
    return 1;
  }
  return code;
}
