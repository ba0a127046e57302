# Random secrets for a local run, generated once into .env (sourced by run.sh after setup.sh).
# A secret already set in the environment or in the file is kept; a generated one is never printed.

ensure_secret() {  # ensure_secret NAME ENV_FILE
  local name=$1 env_file=$2 value
  [ -n "${!name:-}" ] && return 0
  grep -q "^${name}=." "$env_file" 2>/dev/null && return 0
  value="$(head -c 48 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  touch "$env_file" && chmod go-rwx "$env_file"  # it holds secrets from now on
  # A file whose last line has no newline would glue the new line onto it.
  if [ -s "$env_file" ] && [ -n "$(tail -c 1 "$env_file")" ]; then echo >>"$env_file"; fi
  printf '%s=%s\n' "$name" "$value" >>"$env_file"
  log "generated a random $name into $env_file (kept there; the API refuses to start without one)"
}
