//! The threading examples of the seed notebook (001_3f8830b7e484a3ac, "Основы процессов и
//! потоков" to the `multiprocessing` module) mapped onto Rust's std, each printed next to
//! what the notebook printed:
//!
//! | Python                                   | here                                        |
//! |------------------------------------------|---------------------------------------------|
//! | `threading.Thread(...).start()`          | `std::thread::spawn`                        |
//! | `join()`; non-daemon threads at exit     | `JoinHandle::join` (at the end of `main`)   |
//! | `daemon=True`                            | a thread nobody joins: it dies with `main`  |
//! | `ThreadPoolExecutor(max_workers=3)`      | a channel feeding at most 3 named workers   |
//! | running Python code (always with the GIL)| `SharedHeap::with_gil`, objects in its heap |
//! | `threading.Lock`                         | `Mutex<bool>` + `Condvar`, taken outside GIL|
//! | `threading.BoundedSemaphore`             | `Mutex<usize>` + `Condvar`                  |
//! | `queue.Queue`, `task_done`, `join`       | `Mutex<(VecDeque, unfinished)>` + `Condvar` |
//! | `multiprocessing.Process`, `Pool.map`    | this binary re-spawned (`current_exe`)      |
//! | `multiprocessing.Queue`, `Pipe`          | an OS pipe between two child processes      |
//! | `multiprocessing.Lock`                   | a lock file created with `create_new`       |
//!
//! The notebook sleeps whole seconds; so does this tour (about 12 s). `--quick` divides every
//! sleep by 20.
//!
//! `cargo run --release --example threads_tour [-- --quick]`

mod common;

use std::cell::Cell;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use pygc::gil::{SharedHeap, SwitchPolicy};
use pygc::{HeapConfig, Trace};

use common::{Table, child_args, python, quick, spawn_self};

/// Every sleep of the notebook, in seconds, is multiplied by this.
static SCALE: OnceLock<f64> = OnceLock::new();

fn sleep(secs: f64) {
    thread::sleep(Duration::from_secs_f64(
        secs * SCALE.get().copied().unwrap_or(1.0),
    ));
}

/// The lines a section printed, in the order the threads printed them.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn say(&self, line: impl Into<String>) {
        self.0.lock().expect("log").push(line.into());
    }
    fn lines(&self) -> Vec<String> {
        self.0.lock().expect("log").clone()
    }
}

/// Prints a section: the notebook's output beside this example's.
fn show(title: &str, notebook: &str, ours: &Log, note: &str) {
    println!("\n=== {title} ===");
    let nb: Vec<&str> = notebook.lines().collect();
    let ours = ours.lines();
    let mut table = Table::new(&["the notebook printed", "this example printed"]).left_aligned();
    for i in 0..nb.len().max(ours.len()) {
        table.row(vec![
            nb.get(i).map(|s| s.to_string()).unwrap_or_default(),
            ours.get(i).cloned().unwrap_or_default(),
        ]);
    }
    table.print();
    if !note.is_empty() {
        println!("  {note}");
    }
}

/// Prints a cell the notebook shows without output: CPython 3.11 running the notebook's
/// code now (`examples/python/threads_tour.py`) beside this example's.
fn show_cpython(title: &str, cpython: &[String], ours: &Log) {
    show_three(title, &["(not run)"], cpython, ours, "");
}

/// Prints the notebook's output, CPython 3.11's now and this example's, side by side.
fn show_three(title: &str, notebook: &[&str], cpython: &[String], ours: &Log, note: &str) {
    println!("\n=== {title} ===");
    let ours = ours.lines();
    let mut table = Table::new(&[
        "the notebook printed",
        "CPython 3.11 running its code",
        "this example printed",
    ])
    .left_aligned();
    for i in 0..cpython.len().max(ours.len()).max(notebook.len()) {
        table.row(vec![
            notebook.get(i).map(|s| s.to_string()).unwrap_or_default(),
            cpython.get(i).cloned().unwrap_or_default(),
            ours.get(i).cloned().unwrap_or_default(),
        ]);
    }
    table.print();
    if !note.is_empty() {
        println!("  {note}");
    }
}

/// The output of `examples/python/threads_tour.py` for one of its `== NAME` cells.
fn cpython_cell(name: &str) -> Vec<String> {
    static OUT: OnceLock<String> = OnceLock::new();
    let out = OUT.get_or_init(|| {
        let scale = SCALE.get().copied().unwrap_or(1.0).to_string();
        python(include_str!("python/threads_tour.py"), &[scale]).unwrap_or_default()
    });
    out.lines()
        .skip_while(|l| *l != format!("== {name}"))
        .skip(1)
        .take_while(|l| !l.starts_with("== "))
        .map(String::from)
        .collect()
}

/// `repr(threading.current_thread())`: the name, and the thread's id where Python prints
/// the OS thread id (std exposes its own numbering only).
fn current_thread(daemon: bool) -> String {
    let t = thread::current();
    let id = format!("{:?}", t.id());
    let id: String = id.chars().filter(char::is_ascii_digit).collect();
    let daemon = if daemon { " daemon" } else { "" };
    format!(
        "<Thread({}, started{daemon} {id})>",
        t.name().unwrap_or("?")
    )
}

fn main() {
    if let Some(args) = child_args() {
        return child(&args);
    }
    SCALE
        .set(if quick() { 0.05 } else { 1.0 })
        .expect("set once");
    thread_start_without_join();
    daemon_thread();
    threads_in_a_list();
    thread_pool_executor();
    lock_and_race();
    bounded_semaphore();
    queue_task_done_join();
    processes();
    process_lock();
    pool_map();
    process_queue();
    process_pipe();
}

/// In [3]: start a thread, do not join it. A non-daemon thread keeps the interpreter alive:
/// Python joins it at exit, so "after sleep" still prints after "all done".
fn thread_start_without_join() {
    let log = Log::default();
    let thread_function = |log: Log, name: i32| {
        log.say(format!("{name}  - thread starting"));
        sleep(3.0);
        log.say(format!("{name}  - after sleep"));
    };
    log.say("before create Thread");
    let l = log.clone();
    let x = thread::Builder::new().name("Thread-1".into());
    log.say("before running Thread");
    let x = x.spawn(move || thread_function(l, 1)).expect("spawn");
    sleep(0.01);
    log.say("Wait thread finish");
    log.say("all done");
    // The interpreter's shutdown joins every non-daemon thread.
    x.join().expect("thread_function");
    show(
        "Thread without join (In [3])",
        "before create Thread\nbefore running Thread\n1  - thread starting\nWait thread finish\n\
         all done\n1  - after sleep",
        &log,
        "(a std thread is not joined at exit: the interpreter's join of non-daemon threads is an explicit join() here)",
    );
}

/// In [2]: `daemon=True`. Shown in a child process whose main returns while the daemon
/// sleeps: its second line never comes.
fn daemon_thread() {
    let log = Log::default();
    let mut child = spawn_self(&["daemon".into()]);
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut out)
        .expect("child output");
    child.wait().expect("child");
    for line in out.lines() {
        log.say(line);
    }
    show(
        "Daemon thread (In [2], run in a child process)",
        "(no output: the cell only creates the thread)",
        &log,
        "(the process ended with main; the daemon never printed \"after sleep\")",
    );
}

/// In [8]: three threads kept in a list, joined in order.
fn threads_in_a_list() {
    let log = Log::default();
    let mut threads = Vec::new();
    for index in 0..3 {
        log.say(format!("create thread -  {index}"));
        let l = log.clone();
        threads.push(thread::spawn(move || {
            l.say(format!("{index}  - thread start"));
            sleep(2.0);
            l.say(format!("{index} - thread job's done"));
        }));
        sleep(0.01);
    }
    for (index, thread) in threads.into_iter().enumerate() {
        log.say(format!("before join -  {index}"));
        thread.join().expect("thread_function");
        log.say(format!("after join -  {index}"));
    }
    show(
        "Threads in a list, joined (In [8])",
        "create thread -  0\n0  - thread start\ncreate thread -  1\n1  - thread start\n\
         create thread -  2\n2  - thread start\nbefore join -  0\n0 - thread job's done\n\
         after join -  0\nbefore join -  1\n1 - thread job's done\nafter join -  1\n\
         before join -  2\n2 - thread job's done\nafter join -  2",
        &log,
        "",
    );
}

type Job = Box<dyn FnOnce() + Send>;

/// `ThreadPoolExecutor`: up to `max_workers` threads, started on demand as tasks are
/// submitted, taking tasks from one channel; dropping it waits for the tasks (Python's
/// executor is shut down at exit the same way).
struct ThreadPoolExecutor {
    sender: Option<mpsc::Sender<Job>>,
    receiver: Arc<Mutex<mpsc::Receiver<Job>>>,
    workers: Vec<thread::JoinHandle<()>>,
    max_workers: usize,
    pool: usize,
}

static POOLS: AtomicUsize = AtomicUsize::new(0);

impl ThreadPoolExecutor {
    fn new(max_workers: usize) -> ThreadPoolExecutor {
        let (sender, receiver) = mpsc::channel();
        ThreadPoolExecutor {
            sender: Some(sender),
            receiver: Arc::new(Mutex::new(receiver)),
            workers: Vec::new(),
            max_workers,
            pool: POOLS.fetch_add(1, Ordering::SeqCst),
        }
    }

    fn submit(&mut self, f: impl FnOnce() + Send + 'static) {
        if self.workers.len() < self.max_workers {
            let receiver = self.receiver.clone();
            let name = format!("ThreadPoolExecutor-{}_{}", self.pool, self.workers.len());
            let worker = thread::Builder::new().name(name).spawn(move || {
                loop {
                    let job = receiver.lock().expect("queue").recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => return, // shut down
                    }
                }
            });
            self.workers.push(worker.expect("spawn a worker"));
        }
        self.sender
            .as_ref()
            .expect("running")
            .send(Box::new(f))
            .expect("workers alive");
    }
}

impl Drop for ThreadPoolExecutor {
    fn drop(&mut self) {
        self.sender = None;
        for worker in self.workers.drain(..) {
            worker.join().expect("worker");
        }
    }
}

/// In [12]: two tasks submitted to a pool of three.
fn thread_pool_executor() {
    let log = Log::default();
    {
        let mut executor = ThreadPoolExecutor::new(3);
        for _ in 0..2 {
            let l = log.clone();
            executor.submit(move || {
                sleep(2.0);
                l.say(format!(
                    "thread_function Executed {}",
                    current_thread(false)
                ));
            });
        }
    }
    show(
        "ThreadPoolExecutor(max_workers=3) (In [12])",
        "thread_function Executed <Thread(ThreadPoolExecutor-3_1, started 24448)>\n\
         thread_function Executed <Thread(ThreadPoolExecutor-3_0, started 26684)>",
        &log,
        "(different workers run the two tasks, as in the notebook)",
    );
}

/// `threading.Lock`: acquired and released by separate calls. A thread holding the GIL
/// takes it with the GIL released (`allow_threads`), as CPython's `lock.acquire()` does:
/// blocking on it while holding the GIL would stop the thread that must release it.
#[derive(Default)]
struct Lock {
    locked: Mutex<bool>,
    released: Condvar,
}

impl Lock {
    fn acquire(&self) {
        let mut locked = self.locked.lock().expect("lock");
        while *locked {
            locked = self.released.wait(locked).expect("lock");
        }
        *locked = true;
    }
    fn release(&self) {
        *self.locked.lock().expect("lock") = false;
        self.released.notify_one();
    }
}

/// The notebook's `DataBase`: a heap object whose `value` threads update under the GIL.
#[derive(Trace)]
struct DataBase {
    value: Cell<i64>,
}

/// The notebook's `DataBase.update` (read, `time.sleep(0.1)`, write back) from two threads
/// sharing one heap under the GIL, without and with a `Lock`. Python code always runs with
/// the GIL, and the GIL does not make `update` atomic: `time.sleep` releases it.
fn lock_and_race() {
    let log = Log::default();
    let heap = SharedHeap::new(HeapConfig::default(), SwitchPolicy::New);
    for locked in [false, true] {
        let database = heap.with_gil(|py| {
            py.alloc(DataBase {
                value: Cell::new(0),
            })
            .unbind()
        });
        let lock = Arc::new(Lock::default());
        let testing = if locked {
            "Testing locked update"
        } else {
            "Testing update"
        };
        log.say(format!("{testing}. Starting value is 0."));
        let threads: Vec<_> = (0..2)
            .map(|name| {
                let (heap, lock, l) = (heap.clone(), lock.clone(), log.clone());
                let database = heap.with_gil(|py| database.clone_ref(py));
                thread::spawn(move || {
                    heap.with_gil(|py| {
                        let db = database.bind(py);
                        l.say(format!("{name}  - start thread"));
                        if locked {
                            py.allow_threads(|| lock.acquire());
                        }
                        let mut local_copy = db.value.get();
                        local_copy += 1;
                        py.allow_threads(|| sleep(0.1)); // time.sleep releases the GIL
                        db.value.set(local_copy);
                        if locked {
                            lock.release();
                        }
                        l.say(format!("{name}  - finish thread"));
                    })
                })
            })
            .collect();
        for t in threads {
            t.join().expect("update");
        }
        let end = heap.with_gil(|py| database.bind(py).value.get());
        log.say(format!("{testing}. Ending value is {end}."));
        heap.with_gil(|_| drop(database));
    }
    show_three(
        "DataBase.update under the GIL, with and without a Lock (In [13])",
        &[
            "(no output: the cells only",
            "define DataBase and show",
            "lock.acquire() and",
            "lock.release())",
        ],
        &cpython_cell("database"),
        &log,
        "(unlocked, both threads read 0 and write 1 although both hold the GIL to do it: time.sleep\n   releases it between the read and the write; the Lock serialises the updates)",
    );
}

/// `threading.BoundedSemaphore`: a counter that blocks at zero and refuses to grow past its
/// initial value.
struct BoundedSemaphore {
    value: Mutex<usize>,
    bound: usize,
    freed: Condvar,
}

impl BoundedSemaphore {
    fn new(bound: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            value: Mutex::new(bound),
            bound,
            freed: Condvar::new(),
        }
    }
    fn acquire(&self) {
        let mut v = self.value.lock().expect("semaphore");
        while *v == 0 {
            v = self.freed.wait(v).expect("semaphore");
        }
        *v -= 1;
    }
    fn release(&self) -> Result<(), &'static str> {
        let mut v = self.value.lock().expect("semaphore");
        if *v == self.bound {
            return Err("ValueError: Semaphore released too many times");
        }
        *v += 1;
        self.freed.notify_one();
        Ok(())
    }
}

fn bounded_semaphore() {
    let log = Log::default();
    let max_connections = 10;
    let semaphore = Arc::new(BoundedSemaphore::new(max_connections));
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..25)
        .map(|_| {
            let (s, inside, most) = (semaphore.clone(), inside.clone(), most.clone());
            thread::spawn(move || {
                s.acquire(); // the counter goes down (-1)
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                sleep(0.05); // ... access to the shared resource
                inside.fetch_sub(1, Ordering::SeqCst);
                s.release().expect("balanced"); // the counter goes up (+1)
            })
        })
        .collect();
    for t in threads {
        t.join().expect("connection");
    }
    log.say(format!(
        "25 threads, BoundedSemaphore({max_connections}): at most {} inside at once",
        most.load(Ordering::SeqCst)
    ));
    log.say(format!(
        "one release too many: {}",
        semaphore.release().expect_err("bounded")
    ));
    show(
        "BoundedSemaphore(max_connections) (In [None])",
        "(no output: the cell shows acquire() / release())",
        &log,
        "",
    );
}

/// `queue.Queue` with `task_done` and `join`: `join` returns once every item put has been
/// marked done.
struct Queue<T> {
    state: Mutex<(VecDeque<T>, usize)>,
    changed: Condvar,
}

impl<T> Queue<T> {
    fn new() -> Queue<T> {
        Queue {
            state: Mutex::new((VecDeque::new(), 0)),
            changed: Condvar::new(),
        }
    }
    fn put(&self, item: T) {
        let mut s = self.state.lock().expect("queue");
        s.0.push_back(item);
        s.1 += 1;
        self.changed.notify_all();
    }
    fn get(&self) -> T {
        let mut s = self.state.lock().expect("queue");
        loop {
            if let Some(item) = s.0.pop_front() {
                return item;
            }
            s = self.changed.wait(s).expect("queue");
        }
    }
    fn task_done(&self) {
        let mut s = self.state.lock().expect("queue");
        s.1 =
            s.1.checked_sub(1)
                .expect("task_done() called too many times");
        self.changed.notify_all();
    }
    fn join(&self) {
        let mut s = self.state.lock().expect("queue");
        while s.1 > 0 {
            s = self.changed.wait(s).expect("queue");
        }
    }
}

/// In [19]: two daemon workers, five items, `q.join()`.
fn queue_task_done_join() {
    let log = Log::default();
    let q = Arc::new(Queue::new());
    let num_worker_threads = 2;
    for i in 0..num_worker_threads {
        let (q, l) = (q.clone(), log.clone());
        // Daemon workers: never joined, they stay blocked in get() until the process ends.
        thread::Builder::new()
            .name(format!("Thread-{}", 34 + i))
            .spawn(move || {
                loop {
                    let item: i32 = q.get();
                    l.say(format!("get task -  {item}"));
                    sleep(1.0);
                    l.say(format!("my task is {item} i am  {}", current_thread(true)));
                    q.task_done();
                }
            })
            .expect("spawn a worker");
    }
    for item in 0..5 {
        q.put(item);
    }
    q.join();
    show(
        "Queue with task_done() and join() (In [19])",
        "get task -  0\nget task -  1\nmy task is 1 i am  <Thread(Thread-34, started daemon 9080)>\n\
         get task -  2\nmy task is 0 i am  <Thread(Thread-35, started daemon 13812)>\n\
         get task -  3\nmy task is 2 i am  <Thread(Thread-34, started daemon 9080)>\n\
         get task -  4\nmy task is 3 i am  <Thread(Thread-35, started daemon 13812)>\n\
         my task is 4 i am  <Thread(Thread-34, started daemon 9080)>",
        &log,
        "",
    );
}

/// In [69] / In [68]: six processes running `foo(number)`, then the list of them.
fn processes() {
    let log = Log::default();
    let random_numbers = [5, 10, 15, 20, 25];
    let mut process_list = Vec::new();
    for (index, number) in random_numbers.iter().enumerate() {
        let name = format!("Process-{}", index + 1);
        process_list.push((name, number.to_string()));
    }
    process_list.push(("Test".to_string(), "2".to_string()));
    let children: Vec<_> = process_list
        .iter()
        .map(|(name, number)| {
            (
                name.clone(),
                spawn_self(&["foo".into(), number.clone(), name.clone()]),
            )
        })
        .collect();
    for (name, child) in children {
        let pid = child.id();
        let out = child.wait_with_output().expect("child");
        let parent = std::process::id();
        log.say(format!(
            "<Process name='{name}' pid={pid} parent={parent} stopped exitcode={}>",
            out.status.code().unwrap_or(-1)
        ));
    }
    show(
        "multiprocessing.Process, then process_list (In [69], In [68])",
        "<Process name='Process-160' pid=23604 parent=14472 stopped exitcode=1>\n\
         <Process name='Process-161' pid=27224 parent=14472 stopped exitcode=1>\n\
         <Process name='Process-162' pid=27972 parent=14472 stopped exitcode=1>\n\
         <Process name='Process-163' pid=1568 parent=14472 stopped exitcode=1>\n\
         <Process name='Process-164' pid=28272 parent=14472 stopped exitcode=1>\n\
         <Process name='Test' pid=27336 parent=14472 stopped exitcode=1>",
        &log,
        "(exitcode=1 in the notebook: on Windows a child cannot import a function defined in a \
         notebook;\n   CPython on Linux forks and exits 0, as these children do)",
    );
}

/// `multiprocessing.Lock` across processes: a lock file, taken by creating it (atomic:
/// `O_EXCL`) and released by removing it.
fn lock_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "pygc-threads-tour-{}.lock",
        std::env::var("TOUR_PARENT").unwrap_or_default()
    ))
}

fn process_lock() {
    let log = Log::default();
    let items = ["test1", "test2", "test3"];
    let parent = std::process::id().to_string();
    let children: Vec<_> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let exe = std::env::current_exe().expect("own binary");
            Command::new(exe)
                .args([
                    "--child",
                    "print_function",
                    item,
                    &format!("Process-{}", 7 + i),
                ])
                .env("TOUR_PARENT", &parent)
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("child");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            log.say(line);
        }
    }
    show(
        "multiprocessing.Lock around print (In [72])",
        "<Process name='Process-176' pid=15516 parent=14472 started>\n\
         <Process name='Process-177' pid=14532 parent=14472 started>\n\
         <Process name='Process-178' pid=25328 parent=14472 started>",
        &log,
        "(the notebook's children failed before printing, as above; each child here prints under the lock)",
    );
}

fn pool_map() {
    let log = Log::default();
    let numbers = [5, 10, 20];
    // Pool(processes=3).map: one process per item here, results in the items' order.
    let children: Vec<_> = numbers
        .iter()
        .map(|n| spawn_self(&["calc".into(), n.to_string()]))
        .collect();
    let results: Vec<i64> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("calc");
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .expect("a number")
        })
        .collect();
    log.say(format!("{results:?}"));
    show_cpython(
        "Pool(processes=3).map(calc, [5, 10, 20]) (In [None])",
        &cpython_cell("pool"),
        &log,
    );
}

/// Two children joined by an OS pipe: the first's stdout is the second's stdin.
fn pipeline(first: &[&str], second: &[&str]) -> Vec<String> {
    let exe = std::env::current_exe().expect("own binary");
    let mut one = Command::new(&exe)
        .arg("--child")
        .args(first)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pipe = one.stdout.take().expect("piped");
    let two = Command::new(&exe)
        .arg("--child")
        .args(second)
        .stdin(Stdio::from(pipe))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut said = String::new();
    one.stderr
        .take()
        .expect("piped")
        .read_to_string(&mut said)
        .expect("first's lines");
    one.wait().expect("first");
    let out = two.wait_with_output().expect("second");
    // The first process's own lines (stderr: its stdout is the pipe), then the second's.
    let mut lines: Vec<String> = said.lines().map(String::from).collect();
    lines.extend(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(String::from),
    );
    lines
}

fn process_queue() {
    let log = Log::default();
    for line in pipeline(&["task_creator", "5", "10", "13", "-1"], &["consumer"]) {
        log.say(line);
    }
    show_cpython(
        "multiprocessing.Queue: task_creator and consumer (In [None])",
        &cpython_cell("queue"),
        &log,
    );
}

fn process_pipe() {
    let log = Log::default();
    for line in pipeline(&["sender", "START", "END"], &["receiver"]) {
        log.say(line);
    }
    show_cpython(
        "multiprocessing.Pipe: sender and receiver (In [None])",
        &cpython_cell("pipe"),
        &log,
    );
}

/// The child processes' side.
fn child(args: &[String]) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["daemon"] => {
            SCALE.set(if quick() { 0.05 } else { 1.0 }).ok();
            let x = thread::spawn(|| {
                println!("1  - thread starting");
                sleep(3.0);
                println!("1  - after sleep");
            });
            sleep(0.01);
            println!("all done");
            drop(x); // a daemon: not joined, gone when main returns
        }
        ["foo", number, name] => {
            // foo(number) returns a string that nobody reads (as in the notebook).
            let _ = format!("{number} {name}");
        }
        ["print_function", item, name] => {
            let path = lock_path();
            // lock.acquire()
            while std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .is_err()
            {
                thread::sleep(Duration::from_millis(1));
            }
            println!(
                "{item} <Process name='{name}' parent={} started>",
                std::env::var("TOUR_PARENT").unwrap_or_default()
            );
            // lock.release()
            std::fs::remove_file(&path).expect("release the lock");
        }
        ["calc", number] => println!("{}", number.parse::<i64>().expect("a number") * 2),
        ["task_creator", data @ ..] => {
            for item in data {
                println!("{item}"); // q.put(item)
            }
        }
        ["consumer"] => {
            let stop_number = -1;
            for line in BufReader::new(std::io::stdin()).lines() {
                let data: i64 = line.expect("q.get()").trim().parse().expect("a number");
                println!("data: {data}");
                let processed = data * 2;
                println!("{processed}");
                if data == stop_number {
                    break;
                }
            }
        }
        ["sender", msgs @ ..] => {
            let mut conn = std::io::stdout();
            for msg in msgs {
                writeln!(conn, "{msg}").expect("conn.send");
                conn.flush().expect("conn.send");
                eprintln!("Sent the message: {msg}");
            }
        }
        ["receiver"] => {
            for msg in BufReader::new(std::io::stdin()).lines() {
                let msg = msg.expect("conn.recv()");
                if msg == "END" {
                    break;
                }
                println!("Received the message: {msg}");
            }
        }
        other => panic!("unknown child {other:?}"),
    }
}
