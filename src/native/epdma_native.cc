// epdma native addon (Linux only): the things JavaScript cannot do by itself.
//
//   mapShared(path, bytes)                 file-backed MAP_SHARED memory as a SharedArrayBuffer,
//                                          so two processes (endpoint/host) see the same bytes;
//   createSealed(name, bytes)              the same over a memfd sealed against shrinking, and
//   mapSealed(path, bytes)                 the other process's mapping of it, refused unless the
//                                          seals are there (a peer that could shrink the file
//                                          could make every later access a SIGBUS);
//   futexWait/futexWake(view, index, ...)  wakeups that cross processes (Atomics.notify only
//                                          reaches waiters of the same process);
//   copy(dst, dstOff, src, srcOff, len)    a plain memmove, kept to measure native copy against
//                                          TypedArray.prototype.set (bench/native-copy.mjs).
//
// Everything here is synchronous and allocation-light; argument errors are TypeError/RangeError
// with code 'EINVAL', system-call errors are Error with the errno name as `code` (node-style:
// code, errno, syscall, path) and the path in the message.

#include <napi.h>
// V8 directly (not node.h, whose node_version.h redefines NAPI_VERSION): the one thing Node-API
// lacks is a SharedArrayBuffer over external memory.
#include <uv.h>
#include <v8.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace {

// 1 TiB: far above any BAR or memory model epdma builds, far below the 47-bit user address
// space, and an obvious bound for a size that is probably a unit mistake.
constexpr double kMaxMapBytes = 1099511627776.0;  // 2^40

// ---------------------------------------------------------------------------------------------
// napi_value <-> v8::Local<v8::Value>.
//
// Node-API cannot create a SharedArrayBuffer over foreign memory, so mapShared builds it with the
// V8 API and must hand the result back as a napi_value. Node's own Node-API implementation
// (src/js_native_api_v8.h, v8impl::JsValueFromV8LocalValue / V8LocalValueFromJsValue) defines a
// napi_value as the single pointer inside a v8::Local<v8::Value> (the handle-slot address in the
// current HandleScope) reinterpreted; we do exactly the same. It is valid because (a) the Local
// lives in the HandleScope V8 opens around every native callback, and we return it from that
// callback, and (b) Local<T> is one pointer wide, which the static_assert pins. This ties the
// addon to the V8 ABI of the Node it was built against (it is rebuilt at install).
static_assert(sizeof(v8::Local<v8::Value>) == sizeof(napi_value),
              "v8::Local must be pointer-sized for the napi_value reinterpretation");

napi_value ToNapi(v8::Local<v8::Value> local) {
  napi_value value;
  std::memcpy(static_cast<void*>(&value), &local, sizeof(value));
  return value;
}

v8::Local<v8::Value> ToV8(napi_value value) {
  v8::Local<v8::Value> local;
  std::memcpy(static_cast<void*>(&local), &value, sizeof(value));
  return local;
}

// ---------------------------------------------------------------------------------------------
// Errors.

[[noreturn]] void ThrowInvalid(Napi::Env env, const std::string& message, bool range = false) {
  Napi::Error err = range ? static_cast<Napi::Error>(Napi::RangeError::New(env, "EINVAL: " + message))
                          : static_cast<Napi::Error>(Napi::TypeError::New(env, "EINVAL: " + message));
  err.Set("code", Napi::String::New(env, "EINVAL"));
  throw err;
}

// Same shape as Node's fs errors so callers can treat both alike: "ENOENT: no such file or
// directory, open '/dev/shm/x/bar0'" with code/errno/syscall/path properties.
[[noreturn]] void ThrowErrno(Napi::Env env, int errnum, const char* syscall, const std::string& path,
                             const std::string& detail = "") {
  // On Unix libuv error codes are the negated errno values, and uv_err_name gives their names.
  std::string code = uv_err_name(-errnum);
  std::string message = code + ": " + (detail.empty() ? std::string(uv_strerror(-errnum)) : detail) + ", " +
                        syscall + " '" + path + "'";
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  err.Set("errno", Napi::Number::New(env, -errnum));
  err.Set("syscall", Napi::String::New(env, syscall));
  err.Set("path", Napi::String::New(env, path));
  throw err;
}

// ---------------------------------------------------------------------------------------------
// Argument helpers.

std::string FormatNumber(double v) {
  char buf[32];
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) <= 9007199254740991.0) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%g", v);
  }
  return buf;
}

double IntegerArg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name) {
  if (!info[i].IsNumber()) ThrowInvalid(info.Env(), std::string(fn) + ": " + name + " must be a number");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(v) || v != std::floor(v) || v < 0 || v > 9007199254740991.0) {
    ThrowInvalid(info.Env(), std::string(fn) + ": " + name + " " + FormatNumber(v) +
                                 " is not a non-negative safe integer", true);
  }
  return v;
}

// A mapping size: 1..2^40 whole bytes (EINVAL naming the path otherwise).
double BytesArg(const Napi::CallbackInfo& info, size_t i, const char* fn, const std::string& path) {
  if (!info[i].IsNumber()) ThrowInvalid(info.Env(), std::string(fn) + ": bytes must be a number");
  double bytesD = info[i].As<Napi::Number>().DoubleValue();
  if (!(bytesD >= 1 && bytesD <= kMaxMapBytes) || bytesD != std::floor(bytesD)) {
    ThrowErrno(info.Env(), EINVAL, "mmap", path, "size " + FormatNumber(bytesD) + " out of range (1..2^40 bytes)");
  }
  return bytesD;
}

struct ByteView {
  uint8_t* data;
  size_t length;
};

// One napi_get_typedarray_info instead of node-addon-api's per-property calls: copy() is
// measured at 4 KiB, where the per-call cost is most of the cost.
ByteView Uint8Arg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name) {
  bool isTypedArray = false;
  napi_is_typedarray(info.Env(), info[i], &isTypedArray);
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void* data = nullptr;
  if (!isTypedArray ||
      napi_get_typedarray_info(info.Env(), info[i], &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_uint8_array) {
    ThrowInvalid(info.Env(), std::string(fn) + ": " + name + " must be a Uint8Array");
  }
  return ByteView{static_cast<uint8_t*>(data), length};
}

// The futex word: an aligned int32 inside a SharedArrayBuffer (futex on memory nobody else can
// see would be pointless, and a plain ArrayBuffer may move or be detached under us).
int32_t* FutexWordArg(const Napi::CallbackInfo& info, const char* fn) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    ThrowInvalid(env, std::string(fn) + ": view must be an Int32Array");
  }
  v8::Local<v8::Int32Array> view = ToV8(info[0]).As<v8::Int32Array>();
  if (!view->Buffer()->IsSharedArrayBuffer()) {
    ThrowInvalid(env, std::string(fn) + ": view must be backed by a SharedArrayBuffer");
  }
  Napi::Int32Array arr = info[0].As<Napi::Int32Array>();
  double index = IntegerArg(info, 1, fn, "index");
  if (index >= static_cast<double>(arr.ElementLength())) {
    ThrowInvalid(env, std::string(fn) + ": index " + std::to_string(static_cast<uint64_t>(index)) +
                          " out of range (length " + std::to_string(arr.ElementLength()) + ")", true);
  }
  int32_t* word = arr.Data() + static_cast<size_t>(index);
  if ((reinterpret_cast<uintptr_t>(word) & 3u) != 0) {
    ThrowInvalid(env, std::string(fn) + ": word at index " + std::to_string(static_cast<uint64_t>(index)) +
                          " is not 4-byte aligned", true);
  }
  return word;
}

// ---------------------------------------------------------------------------------------------
// mapShared

// Runs when the last SharedArrayBuffer referencing the mapping is gone, in whichever thread drops
// it (main, a worker, or V8's sweeper). This code must outlive every isolate: -z nodelete.
void UnmapDeleter(void* data, size_t length, void* /*deleter_data*/) {
  munmap(data, length);
}

// A SharedArrayBuffer over `bytes` of mapped memory. From here the backing store owns the
// mapping: if New throws, the store's deleter unmaps.
Napi::Value SabOver(Napi::Env env, void* mem, size_t bytes) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  std::unique_ptr<v8::BackingStore> store =
      v8::SharedArrayBuffer::NewBackingStore(mem, bytes, UnmapDeleter, nullptr);
  v8::Local<v8::SharedArrayBuffer> sab = v8::SharedArrayBuffer::New(isolate, std::move(store));
  return Napi::Value(env, ToNapi(sab));
}

// Closes the descriptor and drops its flock on every exit path. The unlock must be explicit: an
// flock belongs to the open file description, which the mapping keeps alive after close().
struct LockedFd {
  int fd = -1;
  bool locked = false;
  ~LockedFd() {
    if (locked) flock(fd, LOCK_UN);
    if (fd >= 0) close(fd);
  }
};

Napi::Value MapShared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) ThrowInvalid(env, "mapShared: path must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  if (path.empty() || path[0] != '/' || path.find('\0') != std::string::npos) {
    ThrowErrno(env, EINVAL, "open", path, "path must be absolute");
  }
  const size_t bytes = static_cast<size_t>(BytesArg(info, 1, "mapShared", path));

  LockedFd file;
  file.fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (file.fd < 0) ThrowErrno(env, errno, "open", path);

  // Grow before mmap: touching a page past EOF of a shared file mapping is SIGBUS, not an
  // exception. The lock makes stat+truncate atomic against another mapShared of the same file,
  // so a smaller concurrent request can never shrink what a larger one already mapped.
  if (flock(file.fd, LOCK_EX) != 0) ThrowErrno(env, errno, "flock", path);
  file.locked = true;
  struct stat st;
  if (fstat(file.fd, &st) != 0) ThrowErrno(env, errno, "fstat", path);
  if (static_cast<uint64_t>(st.st_size) < bytes) {
    if (ftruncate(file.fd, static_cast<off_t>(bytes)) != 0) ThrowErrno(env, errno, "ftruncate", path);
  }
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, file.fd, 0);
  if (mem == MAP_FAILED) ThrowErrno(env, errno, "mmap", path);
  // The mapping keeps the file referenced; the descriptor and the lock go when `file` does.
  return SabOver(env, mem, bytes);
}

// ---------------------------------------------------------------------------------------------
// Sealed memory (two-process mode). The publisher creates a memfd, sizes it, seals it against
// shrinking, growing and further sealing, and keeps the descriptor open so another process can
// open the very same file through /proc/<pid>/fd/<fd>. Seals belong to the file, not the
// descriptor, so whoever opens it sees them: a mapping of a file nobody can shrink can never
// fault, whatever the publisher does later.

// F_SEAL_FUTURE_WRITE is newer than some libc headers; its value is fixed by the kernel ABI.
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

constexpr int kRequiredSeals = F_SEAL_SHRINK | F_SEAL_SEAL;
constexpr int kForbiddenSeals = F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;

struct OwnedFd {
  int fd = -1;
  ~OwnedFd() {
    if (fd >= 0) close(fd);
  }
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

// createSealed(name, bytes) -> { buffer: SharedArrayBuffer, fd: number }. The caller owns fd
// (it keeps the file reachable for other processes; close it with fs.closeSync).
Napi::Value CreateSealed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) ThrowInvalid(env, "createSealed: name must be a string");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (name.empty() || name.size() > 249 || name.find('\0') != std::string::npos || name.find('/') != std::string::npos) {
    ThrowErrno(env, EINVAL, "memfd_create", name, "name must be 1..249 characters without '/'");
  }
  const size_t bytes = static_cast<size_t>(BytesArg(info, 1, "createSealed", name));
  OwnedFd file;
  file.fd = static_cast<int>(syscall(SYS_memfd_create, name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (file.fd < 0) ThrowErrno(env, errno, "memfd_create", name);
  if (ftruncate(file.fd, static_cast<off_t>(bytes)) != 0) ThrowErrno(env, errno, "ftruncate", name);
  if (fcntl(file.fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    ThrowErrno(env, errno, "fcntl", name, "F_ADD_SEALS failed");
  }
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, file.fd, 0);
  if (mem == MAP_FAILED) ThrowErrno(env, errno, "mmap", name);
  Napi::Value buffer = SabOver(env, mem, bytes);
  Napi::Object out = Napi::Object::New(env);
  out.Set("buffer", buffer);
  out.Set("fd", Napi::Number::New(env, file.release()));
  return out;
}

// mapSealed(path, bytes): opens an existing file (never creates), refuses it unless it is
// sealed against shrinking (and against new seals) and holds at least `bytes`, then maps it.
Napi::Value MapSealed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) ThrowInvalid(env, "mapSealed: path must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  if (path.empty() || path[0] != '/' || path.find('\0') != std::string::npos) {
    ThrowErrno(env, EINVAL, "open", path, "path must be absolute");
  }
  const size_t bytes = static_cast<size_t>(BytesArg(info, 1, "mapSealed", path));
  OwnedFd file;
  file.fd = open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (file.fd < 0) ThrowErrno(env, errno, "open", path);
  struct stat st;
  if (fstat(file.fd, &st) != 0) ThrowErrno(env, errno, "fstat", path);
  if (!S_ISREG(st.st_mode)) ThrowErrno(env, EPERM, "fstat", path, "not a regular file");
  int seals = fcntl(file.fd, F_GET_SEALS);
  if (seals < 0) {
    // EINVAL: the file system has no seals at all (a plain tmpfs or disk file).
    ThrowErrno(env, EPERM, "fcntl", path, "not sealed against shrinking (the file supports no seals)");
  }
  if ((seals & kRequiredSeals) != kRequiredSeals) {
    ThrowErrno(env, EPERM, "fcntl", path,
               "not sealed against shrinking (seals " + std::to_string(seals) + ", F_SEAL_SHRINK and F_SEAL_SEAL required)");
  }
  if ((seals & kForbiddenSeals) != 0) ThrowErrno(env, EPERM, "fcntl", path, "sealed against writing");
  if (static_cast<uint64_t>(st.st_size) < bytes) {
    ThrowErrno(env, EIO, "fstat", path,
               "holds " + std::to_string(static_cast<uint64_t>(st.st_size)) + " bytes, " + std::to_string(bytes) + " needed");
  }
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, file.fd, 0);
  if (mem == MAP_FAILED) ThrowErrno(env, errno, "mmap", path);
  return SabOver(env, mem, bytes);
}

// ---------------------------------------------------------------------------------------------
// futex. Deliberately WITHOUT FUTEX_PRIVATE_FLAG: private futexes are keyed by (mm, address) and
// never match another process; shared ones are keyed by the backing page (inode + offset for a
// MAP_SHARED file), so a waiter in the endpoint process is woken by the host process.

long Futex(int32_t* word, int op, int32_t val, const struct timespec* timeout, uint32_t val3) {
  return syscall(SYS_futex, word, op, val, timeout, nullptr, val3);
}

Napi::Value FutexWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t* word = FutexWordArg(info, "futexWait");
  if (!info[2].IsNumber()) ThrowInvalid(env, "futexWait: expected must be a number");
  // ToInt32 like Atomics.wait, so 0xffffffff and -1 name the same word value.
  int32_t expected = info[2].As<Napi::Number>().Int32Value();
  if (!info[3].IsNumber()) ThrowInvalid(env, "futexWait: timeoutMs must be a number");
  double timeoutMs = info[3].As<Napi::Number>().DoubleValue();
  if (std::isnan(timeoutMs)) ThrowInvalid(env, "futexWait: timeoutMs is NaN", true);

  // Absolute CLOCK_MONOTONIC deadline with FUTEX_WAIT_BITSET: a signal (EINTR) simply retries
  // with the same deadline instead of restarting a relative timeout. FUTEX_WAKE wakes bitset
  // waiters that use FUTEX_BITSET_MATCH_ANY. Beyond ~31,000 years counts as forever.
  const bool forever = timeoutMs < 0 || timeoutMs >= 1e15;
  struct timespec deadline{};
  if (!forever) {
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    double ns = std::floor(timeoutMs * 1e6);
    int64_t secs = static_cast<int64_t>(ns / 1e9);
    int64_t rem = static_cast<int64_t>(ns - static_cast<double>(secs) * 1e9);
    deadline.tv_sec += secs;
    deadline.tv_nsec += rem;
    while (deadline.tv_nsec >= 1000000000L) {
      deadline.tv_nsec -= 1000000000L;
      deadline.tv_sec += 1;
    }
  }
  for (;;) {
    long r = Futex(word, FUTEX_WAIT_BITSET, expected, forever ? nullptr : &deadline,
                   FUTEX_BITSET_MATCH_ANY);
    if (r == 0) return Napi::String::New(env, "ok");
    switch (errno) {
      case EAGAIN: return Napi::String::New(env, "not-equal");
      case ETIMEDOUT: return Napi::String::New(env, "timed-out");
      case EINTR: continue;
      default: ThrowErrno(env, errno, "futex", "FUTEX_WAIT_BITSET");
    }
  }
}

Napi::Value FutexWake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t* word = FutexWordArg(info, "futexWake");
  if (!info[2].IsNumber()) ThrowInvalid(env, "futexWake: count must be a number");
  double countD = info[2].As<Napi::Number>().DoubleValue();
  if (std::isnan(countD)) ThrowInvalid(env, "futexWake: count is NaN", true);
  // Like Atomics.notify: a negative or infinite count wakes everybody.
  int count = (countD < 0 || countD >= static_cast<double>(INT_MAX)) ? INT_MAX
                                                                     : static_cast<int>(std::floor(countD));
  long woken = Futex(word, FUTEX_WAKE, count, nullptr, 0);
  if (woken < 0) ThrowErrno(env, errno, "futex", "FUTEX_WAKE");
  return Napi::Number::New(env, static_cast<double>(woken));
}

// ---------------------------------------------------------------------------------------------
// copy: memmove (overlap-safe, like TypedArray.prototype.set within one buffer).

Napi::Value Copy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ByteView dst = Uint8Arg(info, 0, "copy", "dst");
  double dstOff = IntegerArg(info, 1, "copy", "dstOff");
  ByteView src = Uint8Arg(info, 2, "copy", "src");
  double srcOff = IntegerArg(info, 3, "copy", "srcOff");
  double len = IntegerArg(info, 4, "copy", "len");
  if (dstOff + len > static_cast<double>(dst.length)) {
    ThrowInvalid(env, "copy: dstOff " + std::to_string(static_cast<uint64_t>(dstOff)) + " + len " +
                          std::to_string(static_cast<uint64_t>(len)) + " > dst length " +
                          std::to_string(dst.length), true);
  }
  if (srcOff + len > static_cast<double>(src.length)) {
    ThrowInvalid(env, "copy: srcOff " + std::to_string(static_cast<uint64_t>(srcOff)) + " + len " +
                          std::to_string(static_cast<uint64_t>(len)) + " > src length " +
                          std::to_string(src.length), true);
  }
  if (len > 0) {
    std::memmove(dst.data + static_cast<size_t>(dstOff), src.data + static_cast<size_t>(srcOff),
                 static_cast<size_t>(len));
  }
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("mapShared", Napi::Function::New(env, MapShared, "mapShared"));
  exports.Set("futexWait", Napi::Function::New(env, FutexWait, "futexWait"));
  exports.Set("futexWake", Napi::Function::New(env, FutexWake, "futexWake"));
  exports.Set("copy", Napi::Function::New(env, Copy, "copy"));
  exports.Set("createSealed", Napi::Function::New(env, CreateSealed, "createSealed"));
  exports.Set("mapSealed", Napi::Function::New(env, MapSealed, "mapSealed"));
  exports.Set("maxMapBytes", Napi::Number::New(env, kMaxMapBytes));
  return exports;
}

}  // namespace

NODE_API_MODULE(epdma_native, Init)
