;;; probe.el --- drive Fathom through Emacs' eglot, headless  -*- lexical-binding: t -*-
;; emacs --batch -l probe.el, with FATHOM_TEST_ROOT (a workspace), FATHOM_TEST_FILE (a
;; Python file in it) and FATHOM_SERVER_CMD (the server command, JSON). Prints one
;; line per answer: "fuzzy: NAMES", "words: NAMES", then "done".
(require 'package)
(package-initialize)
(require 'eglot)
(require 'json)
(require 'python)

(defun fathom-probe--names (answer)
  (mapconcat (lambda (s) (plist-get s :name)) answer ","))

(defun fathom-probe--until (what seconds thunk)
  (let ((deadline (+ (float-time) seconds)) result)
    (while (and (not (setq result (funcall thunk))) (< (float-time) deadline))
      (accept-process-output nil 0.5))
    (or result (progn (princ (format "timeout: %s\n" what)) (kill-emacs 1)))))

(let* ((command (append (json-read-from-string (getenv "FATHOM_SERVER_CMD")) nil))
       (file (getenv "FATHOM_TEST_FILE")))
  (setq eglot-sync-connect 60)
  (find-file file)
  (python-mode)
  (eglot '(python-mode) (project-current) 'eglot-lsp-server command "python")
  (let ((server (fathom-probe--until "connection" 60 #'eglot-current-server)))
    (princ (format "fuzzy: %s\n" (fathom-probe--names
                                  (fathom-probe--until "symbols" 120
                                    (lambda () (append (jsonrpc-request server :workspace/symbol
                                                                        '(:query "user_cache_dir")) nil))))))
    (fathom-probe--until "an idle index" 600
      (lambda ()
        (let ((ws (aref (plist-get (jsonrpc-request server :fathom/status nil) :workspaces) 0)))
          (and (equal (plist-get ws :state) "idle") (equal (plist-get ws :pending) 0)))))
    (princ (format "words: %s\n" (fathom-probe--names
                                  (jsonrpc-request server :workspace/symbol
                                                   '(:query "directory where the user's cache files are stored")))))
    (princ "done\n")
    (eglot-shutdown server)
    (kill-emacs 0)))
