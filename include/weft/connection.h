/**
 * @file connection.h
 * @brief Pipes and socket connections that carry whole messages (Python's
 *        `multiprocessing.Pipe` and `multiprocessing.connection.Listener`
 *        and `Client`).
 *
 * A ::weft_conn is one end of a byte stream that carries messages: each
 * weft_conn_send() is received whole by one weft_conn_recv() on the other
 * end, never split or merged. weft_pipe() makes two connected ends (both ways
 * or one way) that a parent and a child started with `fork` share; a
 * ::weft_listener waits for connections on an address and weft_client_connect()
 * makes one, between any two processes on the machine (Unix-domain sockets) or
 * across the network (TCP).
 *
 * **Python interoperates.** The framing is Python's: a 4-byte big-endian
 * signed length before each message, or -1 and an 8-byte big-endian length
 * for messages over 2 GiB - 1. With an authentication key, the handshake is
 * CPython 3.12's challenge and response (HMAC-SHA256 with a `{sha256}` digest
 * prefix, and the legacy HMAC-MD5 of CPython 3.11 and older accepted and
 * answered), so a `multiprocessing.connection.Client(address, authkey=key)`
 * talks to a weft listener, a weft client to a Python `Listener`, and
 * `send_bytes()`/`recv_bytes()` on one side meet weft_conn_send() and
 * weft_conn_recv() on the other. (Python's `send()`/`recv()` pickle objects:
 * those bytes are the payload weft carries.)
 *
 * **Addresses** are strings:
 * - `"unix:/path/to/socket"`: a Unix-domain socket file (Python's
 *   `"/path/to/socket"`);
 * - `"unix:@name"`: a Linux abstract socket, no file (Python's `"\0name"`);
 * - `"tcp:HOST:PORT"`: HOST a numeric IPv4 address, `[IPv6]` or `localhost`;
 *   port 0 lets the system pick one (weft_listener_address() tells which).
 *
 * **Timeouts** never lose or corrupt a message. A receive that times out in
 * the middle of a message keeps what arrived inside the handle, and the next
 * receive continues it. A send that times out before any byte of the message
 * left returns #WEFT_ETIMEDOUT and the connection stays usable; a send that
 * times out part-way cannot take the bytes back, so it returns #WEFT_EBROKEN
 * and every later send fails with #WEFT_EBROKEN (receiving still works).
 *
 * **A dead peer is a code, never a hang or a signal.** When the other end is
 * closed (or its process dies), a receive returns the messages still on the
 * way and then #WEFT_ECLOSED, and a send returns #WEFT_ECLOSED; SIGPIPE is
 * never raised (every write uses MSG_NOSIGNAL). weft_conn_close() from
 * another thread wakes a receive or poll blocked on the same handle with
 * #WEFT_ECLOSED, and weft_listener_close() wakes a blocked accept.
 *
 * **Fork.** Handles survive `fork`: a child may use the ends it inherits
 * (and should destroy those it does not use, as the parent destroys the
 * child's), as long as no other thread was using that handle at the moment
 * of the fork. Closing or destroying a handle closes only the calling
 * process's descriptor, and never disturbs the other process's copy. Do not
 * receive on one end in two processes: each keeps its own read-ahead.
 *
 * Every end is a socket (pipes are `socketpair(AF_UNIX, SOCK_STREAM)` pairs,
 * one-way pipes have the unused direction shut down), opened close-on-exec;
 * the descriptor is never switched to non-blocking mode, so it can be handed
 * to other code or another program as is.
 *
 * @code
 * weft_conn *parent, *child;
 * weft_pipe(&parent, &child, 1);
 * if (fork() == 0) {                      // the child keeps its end
 *     weft_conn_destroy(parent);
 *     weft_conn_send(child, "hello", 5, WEFT_FOREVER);
 *     _exit(0);
 * }
 * weft_conn_destroy(child);               // the parent keeps its end
 * char buf[64];
 * size_t len;
 * weft_conn_recv(parent, buf, sizeof buf, &len, 2 * WEFT_SEC);
 * @endcode
 *
 * @since 0.2
 */
#ifndef WEFT_CONNECTION_H
#define WEFT_CONNECTION_H

#include "common.h"

WEFT_BEGIN_DECLS

/** Opaque handle: one end of a pipe or a socket connection. */
typedef struct weft_conn weft_conn;

/** Opaque handle: a socket waiting for connections. */
typedef struct weft_listener weft_listener;

/** The default largest message a connection receives: 1 GiB. */
#define WEFT_CONN_MAX_MESSAGE_DEFAULT 1073741824u

/** Options for weft_listener_create(); pass NULL for defaults. */
typedef struct weft_listener_options {
    uint32_t version;            /**< #WEFT_LISTENER_OPTIONS_VERSION */
    int backlog;                 /**< pending connections the system queues; 0: 128 */
    const void *authkey;         /**< key every client must prove it knows; NULL: none */
    size_t authkey_len;          /**< its length in bytes; 0: no authentication */
    int unlink_on_close;         /**< `"unix:/path"` only: remove the socket file when the
                                      listener is closed (by the creating process); default 1 */
    size_t max_message;          /**< largest message an accepted connection receives;
                                      0: #WEFT_CONN_MAX_MESSAGE_DEFAULT */
    int64_t handshake_timeout_ns; /**< how long the authentication of one accepted
                                       connection may take, apart from the accept's own
                                       timeout; 0: 5 s; #WEFT_FOREVER allowed */
} weft_listener_options;

/** Current version of ::weft_listener_options. */
#define WEFT_LISTENER_OPTIONS_VERSION 1
/** Default ::weft_listener_options. */
#define WEFT_LISTENER_OPTIONS_INIT { WEFT_LISTENER_OPTIONS_VERSION, 0, NULL, 0, 1, 0, 0 }

/** Options for weft_client_connect(); pass NULL for defaults. */
typedef struct weft_client_options {
    uint32_t version;    /**< #WEFT_CLIENT_OPTIONS_VERSION */
    const void *authkey; /**< the key the listener expects; NULL: none */
    size_t authkey_len;  /**< its length in bytes; 0: no authentication */
    size_t max_message;  /**< largest message this connection receives;
                              0: #WEFT_CONN_MAX_MESSAGE_DEFAULT */
} weft_client_options;

/** Current version of ::weft_client_options. */
#define WEFT_CLIENT_OPTIONS_VERSION 1
/** Default ::weft_client_options. */
#define WEFT_CLIENT_OPTIONS_INIT { WEFT_CLIENT_OPTIONS_VERSION, NULL, 0, 0 }

/**
 * Make a pipe: two connected ends (Python's `multiprocessing.Pipe(duplex)`).
 *
 * A duplex pipe sends and receives both ways. A one-way pipe (@p duplex 0)
 * receives on @p a and sends on @p b, as Python's `Pipe(False)` returns
 * `(reader, writer)`; the wrong direction fails with #WEFT_ENOTSUP.
 *
 * To share a pipe with a child, create it before `fork`; each process then
 * destroys the end it does not use, so the other sees #WEFT_ECLOSED when its
 * partner goes away.
 * @param a receives the first end (the reader of a one-way pipe).
 * @param b receives the second end (the writer of a one-way pipe).
 * @param duplex non-zero: both ways; 0: one way, @p b to @p a.
 * @return #WEFT_OK; #WEFT_EINVAL if @p a or @p b is NULL; #WEFT_ENOMEM;
 *         #WEFT_ESYS when the system refuses the sockets (e.g. out of
 *         descriptors). On failure both are set to NULL.
 * Thread-safe. Fork: made for it; see "Fork" in the file comment.
 * @since 0.2
 */
WEFT_API weft_status weft_pipe(weft_conn **a, weft_conn **b, int duplex) WEFT_NOEXCEPT;

/**
 * Send one message (Python's `Connection.send_bytes`).
 *
 * Waits up to @p timeout_ns while the peer does not read fast enough. Sends
 * on one handle from several threads are serialized: each message goes out
 * whole.
 * @param c the connection.
 * @param buf the message; may be NULL when @p len is 0.
 * @param len its length; 0 sends an empty message.
 * @param timeout_ns 0: send only what fits without waiting; #WEFT_FOREVER.
 * @return #WEFT_OK when the whole message is on its way;
 *         #WEFT_ETIMEDOUT when no byte of it could leave in time (the
 *         connection stays usable); #WEFT_EBROKEN when it timed out part-way
 *         (or an earlier send did): the stream is cut mid-message, no later
 *         send succeeds; #WEFT_ECLOSED when the peer is gone or this end was
 *         closed; #WEFT_ENOTSUP on the reading end of a one-way pipe;
 *         #WEFT_EINVAL for NULL @p buf with @p len > 0 or a timeout below -1;
 *         #WEFT_ESYS for another system error; #WEFT_EMISUSE for a NULL or
 *         destroyed handle.
 * Thread-safe. Safe in a child after `fork` if no other thread was using the
 * handle at the time of the fork.
 * @since 0.2
 */
WEFT_API weft_status weft_conn_send(weft_conn *c, const void *buf, size_t len, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Receive one message into a caller's buffer (Python's
 * `Connection.recv_bytes_into`).
 *
 * A message larger than @p cap (or than the connection's largest message,
 * see weft_conn_set_max_message()) is not taken: the call returns
 * #WEFT_EMSGSIZE with `*len` set to its size, and the next receive gets it
 * (e.g. weft_conn_recv_alloc(), or this function with a larger buffer).
 * @param c the connection.
 * @param buf where the message goes; may be NULL when @p cap is 0 (to learn
 *        the size of the next message).
 * @param cap the size of @p buf.
 * @param len receives the message's length (or, with #WEFT_EMSGSIZE, the
 *        size needed); left alone on other failures.
 * @param timeout_ns 0 polls; #WEFT_FOREVER waits for a message.
 * @return #WEFT_OK; #WEFT_ETIMEDOUT when no whole message arrived in time
 *         (a part that did is kept for the next call); #WEFT_EMSGSIZE as
 *         above; #WEFT_ECLOSED when the peer closed its end and every message
 *         it sent has been received, when this end was closed (also while
 *         waiting), or when the peer's process died; #WEFT_EBROKEN when the
 *         stream is not this framing (a negative length other than -1); it
 *         stays broken; #WEFT_ENOTSUP on the sending end of a one-way pipe;
 *         #WEFT_EINVAL for NULL @p len, NULL @p buf with @p cap > 0, or a
 *         timeout below -1; #WEFT_ENOMEM when a message cut by a timeout
 *         cannot be kept (the message is lost, the stream broken);
 *         #WEFT_ESYS; #WEFT_EMISUSE for a NULL or destroyed handle.
 * Thread-safe: receives on one handle from several threads are serialized,
 * each gets whole messages. Fork: as weft_conn_send().
 * @since 0.2
 */
WEFT_API weft_status weft_conn_recv(weft_conn *c, void *buf, size_t cap, size_t *len,
                                    int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Receive one message into a buffer weft allocates (Python's
 * `Connection.recv_bytes`).
 * @param c the connection.
 * @param buf receives the message, to free with weft_conn_free() (it is
 *        `malloc`ed, so `free()` works too); never NULL on success, even for
 *        an empty message. Set to NULL on failure.
 * @param len receives its length.
 * @param timeout_ns as weft_conn_recv().
 * @return as weft_conn_recv(); #WEFT_EMSGSIZE (with `*len` the size) only for
 *         a message over the connection's largest message; #WEFT_ENOMEM when
 *         the buffer cannot be allocated (the message stays for the next call).
 * Thread-safe; fork as weft_conn_recv().
 * @since 0.2
 */
WEFT_API weft_status weft_conn_recv_alloc(weft_conn *c, void **buf, size_t *len, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Free a buffer from weft_conn_recv_alloc(). NULL is a no-op.
 * Thread-safe; safe in a forked child.
 * @since 0.2
 */
WEFT_API void weft_conn_free(void *buf) WEFT_NOEXCEPT;

/**
 * Wait until there is something to receive (Python's `Connection.poll`).
 *
 * As in Python, "something" is the start of a message or the end of the
 * stream: a receive after #WEFT_OK does not wait for a message to begin,
 * but may still wait for the rest of a large one.
 * @param c the connection.
 * @param timeout_ns 0 checks without waiting; #WEFT_FOREVER.
 * @return #WEFT_OK when a receive will find data or the peer's close;
 *         #WEFT_ETIMEDOUT when nothing arrived in time; #WEFT_ECLOSED when
 *         this end was closed (also while waiting); #WEFT_ENOTSUP on the
 *         sending end of a one-way pipe; #WEFT_EINVAL for a timeout below -1;
 *         #WEFT_ESYS; #WEFT_EMISUSE for a NULL or destroyed handle.
 * Thread-safe.
 * @since 0.2
 */
WEFT_API weft_status weft_conn_poll(weft_conn *c, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * Set the largest message this end receives. A larger one is refused with
 * #WEFT_EMSGSIZE and left in place, so a corrupt or hostile length cannot
 * make weft allocate gigabytes.
 * @param c the connection.
 * @param max_message in bytes; 0 restores #WEFT_CONN_MAX_MESSAGE_DEFAULT.
 * @return #WEFT_OK; #WEFT_EMISUSE for a NULL or destroyed handle.
 * Thread-safe.
 * @since 0.2
 */
WEFT_API weft_status weft_conn_set_max_message(weft_conn *c, size_t max_message) WEFT_NOEXCEPT;

/**
 * The connection's socket descriptor, to wait on with poll/select/epoll next
 * to other descriptors, or to hand to another program (clear FD_CLOEXEC
 * first: weft opens it close-on-exec).
 *
 * weft reads ahead: a message may be waiting inside the handle while the
 * descriptor is not readable. Call weft_conn_poll(c, 0) before waiting on the
 * descriptor. Do not read or write it directly while weft uses it, and do not
 * close it: weft_conn_close() and weft_conn_destroy() do.
 * @return the descriptor (>= 0); #WEFT_ECLOSED after weft_conn_close();
 *         #WEFT_EMISUSE for a NULL or destroyed handle.
 * Thread-safe. A forked child inherits the descriptor (close-on-exec closes
 * it only across exec).
 * @since 0.2
 */
WEFT_API int weft_conn_fd(const weft_conn *c) WEFT_NOEXCEPT;

/**
 * Close this end (Python's `Connection.close`): the peer's receives get
 * #WEFT_ECLOSED after the messages already sent, and its sends
 * #WEFT_ECLOSED. Threads blocked in a receive, poll or send on this handle
 * are woken with #WEFT_ECLOSED; later calls fail with #WEFT_ECLOSED. The
 * descriptor is closed once the last such call has left.
 *
 * Only this process's descriptor is closed: a copy held by a forked child
 * stays open, so the peer sees the end of the stream when both are closed.
 * @return #WEFT_OK (also when already closed); #WEFT_EMISUSE for a NULL or
 *         destroyed handle.
 * Thread-safe.
 * @since 0.2
 */
WEFT_API weft_status weft_conn_close(weft_conn *c) WEFT_NOEXCEPT;

/**
 * Close (if not yet closed) and free a connection. NULL is a no-op. No other
 * thread may use the handle during or after this call.
 * Fork: closes only this process's copy of the descriptor.
 * @since 0.2
 */
WEFT_API void weft_conn_destroy(weft_conn *c) WEFT_NOEXCEPT;

/**
 * Listen for connections on an address (Python's
 * `multiprocessing.connection.Listener`).
 * @param out receives the handle; set to NULL on failure.
 * @param address `"unix:/path"`, `"unix:@name"` or `"tcp:HOST:PORT"` (see
 *        the file comment); `"tcp:127.0.0.1:0"` picks a free port.
 * @param opts NULL for defaults: no authentication, backlog 128, the socket
 *        file removed at close.
 * @return #WEFT_OK; #WEFT_EINVAL for NULL @p out or @p address, an address
 *         that does not parse (unknown scheme, empty or too long path, bad
 *         host or port), an unknown options version, a negative backlog, a
 *         NULL authkey with a non-zero length or a handshake timeout below
 *         -1; #WEFT_EEXIST when the address is in use (a socket file, or a
 *         TCP port, already there); #WEFT_ENOENT when the directory of a
 *         socket path does not exist; #WEFT_EPERM when the system denies the
 *         address; #WEFT_ENOMEM; #WEFT_ESYS for other system errors.
 * Thread-safe. Fork: a child inherits the listener and may accept on it;
 * only the creating process removes the socket file.
 * @since 0.2
 */
WEFT_API weft_status weft_listener_create(weft_listener **out, const char *address,
                                          const weft_listener_options *opts) WEFT_NOEXCEPT;

/**
 * The address the listener is bound to, in the form weft_client_connect()
 * takes; for a TCP port 0, the port the system picked.
 * @return a string owned by the listener, valid until it is destroyed; NULL
 *         for a NULL or destroyed handle (weft_last_error() says so).
 * Thread-safe.
 * @since 0.2
 */
WEFT_API const char *weft_listener_address(const weft_listener *l) WEFT_NOEXCEPT;

/**
 * Wait for a connection and accept it (Python's `Listener.accept`). With an
 * authentication key, the client must then pass the challenge (and the
 * listener answers the client's), as in Python; this handshake is bounded by
 * the options' `handshake_timeout_ns`, not by @p timeout_ns.
 * @param l the listener.
 * @param out receives the new connection; set to NULL on failure.
 * @param timeout_ns how long to wait for a client to connect; 0 takes only
 *        one already waiting.
 * @return #WEFT_OK; #WEFT_ETIMEDOUT when no client came in time, or the
 *         handshake did not finish in time; #WEFT_EPERM with the message
 *         "authentication failed: ..." when the client does not know the key
 *         (it is told `#FAILURE#` and disconnected) or hung up during the
 *         handshake; the listener stays usable for the next client, so a
 *         server loop goes on after #WEFT_EPERM and #WEFT_ETIMEDOUT;
 *         #WEFT_ECLOSED only when the listener was closed (also while
 *         waiting);
 *         #WEFT_EINVAL for NULL @p out or a timeout below -1; #WEFT_ENOMEM;
 *         #WEFT_ESYS; #WEFT_EMISUSE for a NULL or destroyed handle.
 * Thread-safe: several threads may accept on one listener.
 * @since 0.2
 */
WEFT_API weft_status weft_listener_accept(weft_listener *l, weft_conn **out, int64_t timeout_ns) WEFT_NOEXCEPT;

/**
 * The listening socket's descriptor, to wait on with poll/select (readable:
 * a client is waiting). Do not accept on it directly or close it.
 * @return the descriptor; #WEFT_ECLOSED after weft_listener_close();
 *         #WEFT_EMISUSE for a NULL or destroyed handle.
 * Thread-safe.
 * @since 0.2
 */
WEFT_API int weft_listener_fd(const weft_listener *l) WEFT_NOEXCEPT;

/**
 * Stop listening (Python's `Listener.close`): blocked accepts are woken with
 * #WEFT_ECLOSED, later ones fail with it, clients are refused, and a
 * `"unix:/path"` socket file is removed (when `unlink_on_close` is set and
 * this is the process that created the listener). Connections already
 * accepted are not affected.
 * @return #WEFT_OK (also when already closed); #WEFT_EMISUSE for a NULL or
 *         destroyed handle.
 * Thread-safe.
 * @since 0.2
 */
WEFT_API weft_status weft_listener_close(weft_listener *l) WEFT_NOEXCEPT;

/**
 * Close (if not yet closed) and free a listener. NULL is a no-op. No other
 * thread may use the handle during or after this call.
 * Fork: closes only this process's copy; the socket file stays unless this
 * process created it.
 * @since 0.2
 */
WEFT_API void weft_listener_destroy(weft_listener *l) WEFT_NOEXCEPT;

/**
 * Connect to a listener (Python's `multiprocessing.connection.Client`) and,
 * with an authentication key, answer its challenge and check its answer to
 * ours.
 * @param out receives the connection; set to NULL on failure.
 * @param address as for weft_listener_create() (port 0 is invalid here).
 * @param opts NULL: no authentication, the default largest message.
 * @param timeout_ns bounds the connection and the handshake together.
 * @return #WEFT_OK; #WEFT_ENOENT when nobody listens there (no such socket
 *         file, or the connection was refused: a stale socket file, a closed
 *         TCP port); #WEFT_EPERM with the message "authentication failed:
 *         ..." when the keys differ, or the listener did not send the
 *         challenge a key requires; #WEFT_ETIMEDOUT when the connection or the
 *         handshake did not finish in time (e.g. a listener without a key:
 *         its peer waits for a challenge that never comes); #WEFT_ECLOSED
 *         when the listener hung up during the handshake; #WEFT_EINVAL for
 *         NULL @p out or @p address, an address that does not parse, an
 *         unknown options version, a NULL authkey with a non-zero length or a
 *         timeout below -1; #WEFT_EPERM also when the system denies access to
 *         the socket file; #WEFT_ENOMEM; #WEFT_ESYS for other system errors
 *         (e.g. network unreachable).
 * Thread-safe. Fork: the connection, like a pipe end, may be used by a
 * child that inherits it.
 * @since 0.2
 */
WEFT_API weft_status weft_client_connect(weft_conn **out, const char *address, const weft_client_options *opts,
                                         int64_t timeout_ns) WEFT_NOEXCEPT;

WEFT_END_DECLS

#endif /* WEFT_CONNECTION_H */
