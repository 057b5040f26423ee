//! Choosing files: the system's file dialog on a thread of its own (the window keeps
//! drawing while it is open), and where the system has none (no XDG desktop portal, no
//! zenity) a file list inside the window, with a path field, so that no file button is
//! ever silent.

use super::*;
use std::sync::mpsc::{Receiver, TryRecvError};

/// What a chosen path is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAction {
    OpenPreset,
    LoadData,
    SavePreset,
    ExportModel,
    LoadModel,
    SaveCheckpoint,
    ExportPng,
    ExportMetrics,
    CompareRuns,
}

impl FileAction {
    /// Whether the path names a file to write.
    #[must_use]
    pub fn saves(self) -> bool {
        matches!(
            self,
            Self::SavePreset
                | Self::ExportModel
                | Self::SaveCheckpoint
                | Self::ExportPng
                | Self::ExportMetrics
        )
    }

    /// The extensions shown (empty: every file).
    #[must_use]
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Self::OpenPreset | Self::SavePreset => &["ron"],
            // MNIST's IDX files have no extension: every file is listed.
            Self::LoadData | Self::CompareRuns => &[],
            Self::ExportModel => &["safetensors"],
            Self::LoadModel => &["safetensors", "ckpt"],
            Self::SaveCheckpoint => &["ckpt"],
            Self::ExportPng => &["png"],
            Self::ExportMetrics => &["csv"],
        }
    }

    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            Self::OpenPreset => "Open a preset",
            Self::LoadData => "Train on a data file",
            Self::SavePreset => "Save the preset",
            Self::ExportModel => "Export the model",
            Self::LoadModel => "Load a model or checkpoint",
            Self::SaveCheckpoint => "Save a checkpoint",
            Self::ExportPng => "Export the view as PNG",
            Self::ExportMetrics => "Export the metrics",
            Self::CompareRuns => "Open a sweep folder",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            _ if self.saves() => "Save",
            Self::CompareRuns => "Open this folder",
            _ => "Open",
        }
    }
}

/// Whether the system may have a file dialog: elsewhere than Linux and the BSDs always;
/// there, a desktop portal needs a session bus (named by `DBUS_SESSION_BUS_ADDRESS` or at
/// `$XDG_RUNTIME_DIR/bus`), or zenity must be on the PATH.
fn dialog_backend_possible() -> bool {
    if !cfg!(any(
        target_os = "linux",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd"
    )) {
        return true;
    }
    std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some()
        || std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| Path::new(&d).join("bus").exists())
        || std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("zenity").is_file()))
}

/// What a file is, for the lists (`None`: the window does not open it).
#[must_use]
pub fn file_kind(p: &Path) -> Option<&'static str> {
    if p.is_dir() {
        return p.join("summary.csv").is_file().then_some("sweep folder");
    }
    let ext = p
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        // A preset is one RON struct, `( … )`: the window's own state (`app.ron`, a
        // map) is not one.
        "ron" => first_text(p)
            .is_some_and(|l| l.starts_with('('))
            .then_some("preset"),
        // A sweep's `final.txt` (`key=value` lines) is not data.
        "txt" if first_text(p).is_some_and(|l| l.contains('=')) => None,
        "safetensors" => Some("model"),
        "ckpt" => Some("checkpoint"),
        "csv" if is_metrics_csv(p) => Some("metrics"),
        "csv" | "tsv" | "txt" | "npy" => Some("data"),
        "png" => Some("image"),
        _ if crate::data::images::is_image_file(p) => Some("images"),
        _ => None,
    }
}

/// The file list inside the window.
#[derive(Debug, Clone)]
pub struct Picker {
    pub action: FileAction,
    pub dir: PathBuf,
    /// The path field: a name in `dir` or a whole path.
    pub name: String,
    pub error: Option<String>,
    /// The folder's entries as listed (read once per folder, not every frame).
    listed: Option<(PathBuf, Vec<Entry>)>,
}

/// One entry of the list: a folder or a file, its name, its path, and how it reads.
#[derive(Debug, Clone)]
struct Entry {
    dir: bool,
    name: String,
    path: PathBuf,
    text: String,
}

/// The entries of `dir` the list shows for files ending in `exts` (any file when
/// empty): folders first, then by name; hidden ones left out.
fn list(dir: &Path, exts: &[&str]) -> Vec<Entry> {
    let mut entries: Vec<Entry> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| (e.path(), e.file_name().to_string_lossy().into_owned()))
                .filter_map(|(path, name)| {
                    let dir = path.is_dir();
                    let shown = !name.starts_with('.')
                        && (dir
                            || exts.is_empty()
                            || path
                                .extension()
                                .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x))));
                    shown.then(|| {
                        let text = if dir {
                            format!("{name}/")
                        } else {
                            match file_kind(&path) {
                                Some(k) => format!("{name}    ({k})"),
                                None => name.clone(),
                            }
                        };
                        Entry {
                            dir,
                            name,
                            path,
                            text,
                        }
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    entries.sort_by(|a, b| b.dir.cmp(&a.dir).then_with(|| a.name.cmp(&b.name)));
    entries
}

/// The state of choosing a file.
#[derive(Default)]
pub struct Dialogs {
    /// A system dialog open on its thread: what it is for, when it opened, its answer.
    pub(super) waiting: Option<(FileAction, Instant, Receiver<Option<PathBuf>>)>,
    /// The file list inside the window, when open.
    pub picker: Option<Picker>,
    /// The system has no file dialog (or the user chose the list): the list is used.
    pub builtin: bool,
}

/// A system dialog that answers "nothing chosen" sooner than this never opened.
const NO_DIALOG: Duration = Duration::from_millis(400);

impl WorkbenchApp {
    /// Asks the user for a path for `action`: the system's dialog, or the list.
    pub fn ask_path(&mut self, action: FileAction) {
        if self.dialogs.waiting.is_some() {
            self.message(false, "a file dialog is already open");
            return;
        }
        if !self.dialogs.builtin && !dialog_backend_possible() {
            self.no_dialog_backend();
        }
        if self.dialogs.builtin {
            self.open_picker(action);
            return;
        }
        let name = self.default_file_name(action);
        // Left to itself the system's dialog starts where it likes (the working folder
        // for one action, the last folder for another).
        let dir = self.start_folder();
        let dialog = move || {
            let mut d = rfd::FileDialog::new()
                .set_title(action.title())
                .set_directory(&dir);
            let exts = action.extensions();
            if !exts.is_empty() {
                d = d.add_filter(exts.join(", "), exts);
            }
            if action == FileAction::LoadData {
                d = d
                    .add_filter("points or images", &["csv", "tsv", "txt", "npy", "gz"])
                    .add_filter("all files", &["*"]);
            }
            if let Some(n) = name {
                d = d.set_file_name(n);
            }
            match action {
                FileAction::CompareRuns => d.pick_folder(),
                a if a.saves() => d.save_file(),
                _ => d.pick_file(),
            }
        };
        let (tx, rx) = std::sync::mpsc::channel();
        // From before the dialog opens (on macOS it runs right here, to its end).
        let opened = Instant::now();
        // macOS wants its dialogs on the main thread; elsewhere the window keeps drawing.
        if cfg!(target_os = "macos") {
            let _ = tx.send(dialog());
        } else if std::thread::Builder::new()
            .name("file-dialog".into())
            .spawn(move || {
                let _ = tx.send(dialog());
            })
            .is_err()
        {
            self.open_picker(action);
            return;
        }
        self.dialogs.waiting = Some((action, opened, rx));
    }

    /// From now on the list inside the window, and the user is told why.
    fn no_dialog_backend(&mut self) {
        self.dialogs.builtin = true;
        self.message(
            true,
            "no file dialog is available on this system (it needs the XDG desktop portal or zenity): choose the file in the list instead",
        );
    }

    /// The name a save dialog proposes.
    fn default_file_name(&self, action: FileAction) -> Option<String> {
        let n = &self.state.preset.name;
        match action {
            FileAction::SavePreset => Some(format!("{n}.ron")),
            FileAction::ExportModel => Some(format!("{n}.safetensors")),
            FileAction::SaveCheckpoint => Some(format!("{n}.ckpt")),
            FileAction::ExportPng => Some(format!("{n}.png")),
            FileAction::ExportMetrics => Some("metrics.csv".into()),
            _ => None,
        }
    }

    /// Opens the file list for `action`, in the folder of the last file used.
    pub fn open_picker(&mut self, action: FileAction) {
        let dir = self.start_folder();
        self.dialogs.picker = Some(Picker {
            action,
            dir,
            name: self.default_file_name(action).unwrap_or_default(),
            error: None,
            listed: None,
        });
    }

    /// Where every file dialog starts, the system's and the list alike, whatever it is
    /// for: the folder of the file used last (opened or saved), else the working folder.
    #[must_use]
    pub fn start_folder(&self) -> PathBuf {
        let dir = self
            .state
            .recent
            .iter()
            .find_map(|p| p.parent().filter(|d| d.is_dir()).map(Path::to_path_buf))
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("."));
        // Shown whole: "presets" says less than where it is.
        std::fs::canonicalize(&dir).unwrap_or(dir)
    }

    /// Each frame: the system dialog's answer, if it came.
    pub(super) fn poll_dialog(&mut self, ctx: &egui::Context) {
        let Some((action, opened, rx)) = &self.dialogs.waiting else {
            return;
        };
        let (action, opened) = (*action, *opened);
        match rx.try_recv() {
            Ok(Some(path)) => {
                self.dialogs.waiting = None;
                self.use_path(action, path);
            }
            Ok(None) | Err(TryRecvError::Disconnected) => {
                self.dialogs.waiting = None;
                if opened.elapsed() < NO_DIALOG {
                    // Nobody closes a dialog that fast: there was none.
                    self.no_dialog_backend();
                    self.open_picker(action);
                }
            }
            Err(TryRecvError::Empty) => ctx.request_repaint_after(Duration::from_millis(100)),
        }
    }

    /// What a chosen path does. A file to write gets the action's extension when it has
    /// none (not every system dialog adds it), so that it opens as what it is.
    pub fn use_path(&mut self, action: FileAction, mut p: PathBuf) {
        if action.saves() && p.extension().is_none() {
            p.set_extension(action.extensions()[0]);
        }
        match action {
            FileAction::OpenPreset | FileAction::LoadModel => self.request(Replace::File(p)),
            FileAction::LoadData => self.use_data_file(&p),
            FileAction::SavePreset => self.save_preset(&p),
            FileAction::ExportModel => self.export_model(&p),
            FileAction::SaveCheckpoint => self.save_checkpoint(&p),
            FileAction::ExportPng => self.export_png(&p),
            FileAction::ExportMetrics => self.export_metrics(&p),
            FileAction::CompareRuns => self.open_comparison(&p),
        }
    }

    /// The file list inside the window.
    pub(super) fn picker_ui(&mut self, ctx: &egui::Context) {
        let Some(mut pk) = self.dialogs.picker.take() else {
            return;
        };
        let exts = pk.action.extensions();
        let mut done = None::<PathBuf>;
        let mut cancel = false;
        egui::Modal::new(egui::Id::unique("file_picker")).show(ctx, |ui| {
            ui.set_width(560.0);
            ui.heading(pk.action.title());
            ui.horizontal(|ui| {
                if ui.button("Up").on_hover_text("The folder above.").clicked()
                    && let Some(up) = pk.dir.parent()
                {
                    pk.dir = up.to_path_buf();
                }
                ui.label(pk.dir.display().to_string());
            });
            if pk.listed.as_ref().is_none_or(|(d, _)| *d != pk.dir) {
                pk.listed = Some((pk.dir.clone(), list(&pk.dir, exts)));
            }
            let entries = pk.listed.as_ref().map(|l| l.1.clone()).unwrap_or_default();
            egui::ScrollArea::vertical()
                .max_height(280.0)
                .show(ui, |ui| {
                    if entries.is_empty() {
                        ui.weak("nothing here to choose");
                    }
                    for Entry {
                        dir,
                        name,
                        path: p,
                        text,
                    } in entries.iter().take(500)
                    {
                        let r = ui.selectable_label(pk.name == *name, text);
                        if r.double_clicked() && !*dir {
                            done = Some(p.clone());
                        } else if r.clicked() {
                            if *dir && pk.action != FileAction::CompareRuns {
                                pk.dir.clone_from(p);
                            } else if *dir && pk.name == *name {
                                pk.dir.clone_from(p);
                                pk.name.clear();
                            } else {
                                pk.name.clone_from(name);
                            }
                        }
                    }
                });
            ui.horizontal(|ui| {
                ui.label("File path");
                let r = ui
                    .add(
                        egui::TextEdit::singleline(&mut pk.name)
                            .desired_width(420.0)
                            .hint_text("a name in this folder, or a whole path"),
                    )
                    .accessible_name("file path");
                if r.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)) {
                    done = Some(pk.dir.join(&pk.name));
                }
            });
            if let Some(e) = &pk.error {
                ui.colored_label(theme::ERROR, e);
            }
            ui.horizontal(|ui| {
                if ui.button(pk.action.verb()).clicked() {
                    done = Some(pk.dir.join(&pk.name));
                }
                if ui.button("Cancel").clicked() {
                    cancel = true;
                }
            });
        });
        if cancel {
            return;
        }
        if let Some(mut path) = done {
            if pk.name.trim().is_empty() && pk.action != FileAction::CompareRuns {
                pk.error = Some("type or pick a file name".into());
            } else if pk.action.saves() {
                let ext = pk.action.extensions()[0];
                if path.extension().is_none() {
                    path.set_extension(ext);
                }
                if path.parent().is_some_and(Path::is_dir) {
                    self.use_path(pk.action, path);
                    return;
                }
                pk.error = Some(format!(
                    "no folder {}",
                    path.parent().unwrap_or(&path).display()
                ));
            } else if pk.action == FileAction::CompareRuns {
                let dir = if pk.name.trim().is_empty() {
                    pk.dir.clone()
                } else {
                    path
                };
                if dir.is_dir() {
                    self.use_path(pk.action, dir);
                    return;
                }
                pk.error = Some(format!("no folder {}", dir.display()));
            } else if path.is_file() {
                self.use_path(pk.action, path);
                return;
            } else if path.is_dir() {
                pk.dir = path;
                pk.name.clear();
            } else {
                pk.error = Some(format!("no file {}", path.display()));
            }
        }
        self.dialogs.picker = Some(pk);
    }
}

/// Whether `p` is a metrics CSV (its header starts `step,loss,`) rather than data points.
/// The first line of a text file that is neither blank nor a `//` comment, trimmed.
fn first_text(p: &Path) -> Option<String> {
    use std::io::BufRead as _;
    let f = std::fs::File::open(p).ok()?;
    std::io::BufReader::new(f)
        .lines()
        .take(200)
        .map_while(Result::ok)
        .map(|l| l.trim().to_string())
        .find(|l| !l.is_empty() && !l.starts_with("//"))
}

pub(super) fn is_metrics_csv(p: &Path) -> bool {
    use std::io::BufRead as _;
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        && std::fs::File::open(p)
            .ok()
            .and_then(|f| std::io::BufReader::new(f).lines().next())
            .and_then(Result::ok)
            .is_some_and(|l| l.starts_with("step,loss,"))
}

#[cfg(test)]
mod tests {
    use super::file_kind;

    /// The window's own state and a sweep's summary are not listed as a preset and as
    /// data; a preset (comments first) and a table are.
    #[test]
    fn files_are_named_by_what_they_hold_not_their_extension() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let state = write("app.ron", "{\n    \"app\": \"(preset:(version:1))\",\n}\n");
        let preset = write("mine.ron", "// my experiment\n\n(\n    version: 1,\n)\n");
        let summary = write("final.txt", "final_nll=3.2\nsteps=100\n");
        let table = write("points.txt", "0.5 1.5\n2.0 3.0\n");
        assert_eq!(file_kind(&state), None);
        assert_eq!(file_kind(&preset), Some("preset"));
        assert_eq!(file_kind(&summary), None);
        assert_eq!(file_kind(&table), Some("data"));
    }
}
