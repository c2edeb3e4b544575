// `wgpc compile --emit ansible`: an inventory of the policy's machines and a
// playbook that rolls their bundles out with Ansible, a few machines at a
// time: copy the bundle, `wgpc apply` it (which waits for a confirmation),
// reach the machine again over a new SSH connection through the new rules,
// and only then confirm. Unconfirmed, each machine rolls itself back. Pure:
// text from the checked policy and the bundles.
import { ANSIBLE_DIR, INVENTORY_GROUPS, type CheckedPolicy } from "../check/model.js";
import type { HostBundle } from "../compile.js";
import { formatBits } from "../net/address.js";
import type { Artifact } from "../backends/types.js";
import { artifact } from "../backends/shared/pieces.js";

export { ANSIBLE_DIR };

const q = (s: string) => JSON.stringify(s);

/** The Debian packages a machine needs for its bundle (and wgpc apply itself). */
export function packagesFor(bundle: HostBundle): string[] {
  const has = (p: string) => bundle.artifacts.some((a) => a.path === p);
  const out = new Set(["nodejs", "iproute2", "nftables", "iptables"]);
  if (has("ipset.rules")) out.add("ipset");
  if (bundle.artifacts.some((a) => a.path.endsWith(".conf"))) out.add("wireguard-tools");
  if (has("xdp/load.sh")) ["clang", "llvm", "bpftool", "libbpf-dev", "linux-libc-dev"].forEach((p) => out.add(p));
  return [...out].sort();
}

function inventory(policy: CheckedPolicy, bundles: readonly HostBundle[]): string {
  const group = (role: "hub" | "peer" | undefined) => bundles.filter((b) => policy.machines.get(b.host)?.vpnRole === role);
  const hostLines = (members: readonly HostBundle[]) =>
    members.flatMap((b) => {
      const m = policy.machines.get(b.host)!;
      const reach = [...m.physical].sort((x, y) => x.family - y.family)[0];
      return [
        `        ${q(b.host)}:`,
        reach ? `          ansible_host: ${q(formatBits(reach.family, reach.bits))}` : "          # no physical address in the policy: Ansible resolves the name",
        `          wgpc_packages: [${packagesFor(b).map(q).join(", ")}]`,
        `          wgpc_wireguard: ${b.artifacts.some((a) => a.path === `${policy.vpn?.iface}.conf`) ? q(policy.vpn!.iface) : '""'}`,
      ];
    });
  const section = (name: string, members: readonly HostBundle[]) =>
    members.length === 0 ? [] : [`    ${name}:`, "      hosts:", ...hostLines(members)];
  return [
    "# Ansible inventory of the policy's machines, written by wgpc compile --emit ansible.",
    "# ansible_host is each machine's first physical address; set ansible_user and keys as you log in.",
    "# The variables below are the rollout's defaults (see playbook.yml); host_vars/ and group_vars/",
    "# beside this file, or -e, override them.",
    `${INVENTORY_GROUPS.all}:`,
    "  vars:",
    '    wgpc_bundles: "{{ playbook_dir }}/.."',
    "    wgpc_root: /var/lib/wgpc",
    "    wgpc_command: wgpc",
    "    wgpc_timeout: 60",
    "    wgpc_firewall: nftables",
    "    wgpc_install_packages: true",
    "    wgpc_manage_wireguard: true",
    "    wgpc_force_apply: false",
    "    wgpc_environment: {}",
    "  children:",
    ...section(INVENTORY_GROUPS.hub, group("hub")),
    ...section(INVENTORY_GROUPS.peers, group("peer")),
    ...section(INVENTORY_GROUPS.hosts, group(undefined)),
    "",
  ].join("\n");
}

const PLAYBOOK = `# Rolls the wgpc bundles out, written by wgpc compile --emit ansible:
#   ansible-playbook -i inventory.yml playbook.yml            apply, a few machines at a time
#   ansible-playbook -i inventory.yml playbook.yml --check    report drift (wgpc diff); it copies
#                                                            the bundle to wgpc_root/incoming and changes nothing else
# Each machine runs \`wgpc apply\`, which saves what it replaces and waits
# for a confirmation; the controller confirms only after it has reached the
# machine again over a new SSH connection through the new rules. A machine
# it cannot reach rolls itself back when the timeout runs out, and the
# rollout stops once more than wgpc_max_fail_percentage of a batch failed.
# With -e only (they shape the play, which inventory variables cannot):
#   wgpc_serial               machines per batch (5)
#   wgpc_max_fail_percentage  failed machines a batch may have, in percent (0)
# Per machine (defaults in inventory.yml; override them in host_vars/, group_vars/ or with -e):
#   wgpc_timeout              seconds a machine waits for the confirmation (60)
#   wgpc_command              how wgpc is run on the machines ("wgpc")
#   wgpc_root                 wgpc's state directory, the bundle under incoming/ (/var/lib/wgpc,
#                             the default of wgpc apply and diff by hand too)
#   wgpc_firewall             nftables or iptables (nftables)
#   wgpc_install_packages     install the Debian packages the bundle needs (true)
#   wgpc_manage_wireguard     install the WireGuard config and (re)start wg-quick (true)
#   wgpc_force_apply          apply even where wgpc diff finds no drift (false)
#   wgpc_environment          environment for wgpc on the machines ({})
- name: Roll out the wgpc bundles
  hosts: wgpc
  gather_facts: false
  become: true
  serial: "{{ wgpc_serial | default(5) }}"
  max_fail_percentage: "{{ wgpc_max_fail_percentage | default(0) }}"
  vars:
    wgpc_state: "--state-dir {{ wgpc_root }}"
  environment: "{{ wgpc_environment }}"
  tasks:
    - name: Install the Debian packages the bundle needs
      ansible.builtin.apt:
        name: "{{ wgpc_packages }}"
        state: present
        update_cache: true
        cache_valid_time: 3600
      when: wgpc_install_packages | bool

    - name: Remove an older copy of the bundle
      ansible.builtin.file:
        path: "{{ wgpc_root }}/incoming"
        state: absent
      check_mode: false
      changed_when: false

    - name: Copy this machine's bundle
      ansible.builtin.copy:
        src: "{{ wgpc_bundles }}/{{ inventory_hostname }}/"
        dest: "{{ wgpc_root }}/incoming/"
        mode: preserve
      check_mode: false
      changed_when: false

    - name: Compare the live state with the bundle (a machine without drift is left alone)
      ansible.builtin.command: "{{ wgpc_command }} diff {{ wgpc_root }}/incoming {{ wgpc_state }} --firewall {{ wgpc_firewall }}"
      register: wgpc_diff
      check_mode: false
      changed_when: wgpc_diff.rc == 1 and ansible_check_mode
      failed_when: wgpc_diff.rc > 1

    - name: Install the WireGuard config (the private key stays /etc/wireguard/<iface>.key)
      ansible.builtin.copy:
        src: "{{ wgpc_bundles }}/{{ inventory_hostname }}/{{ wgpc_wireguard }}.conf"
        dest: "/etc/wireguard/{{ wgpc_wireguard }}.conf"
        mode: "0600"
      register: wgpc_wg_conf
      when: wgpc_manage_wireguard | bool and wgpc_wireguard != ""

    - name: Bring the WireGuard interface up with the new config
      ansible.builtin.systemd:
        name: "wg-quick@{{ wgpc_wireguard }}"
        enabled: true
        state: "{{ 'restarted' if wgpc_wg_conf.changed else 'started' }}"
      when: wgpc_manage_wireguard | bool and wgpc_wireguard != "" and not ansible_check_mode

    - name: Apply, confirm once the machine is reached again, or let it roll back
      block:
        - name: The controller's SSH session, which the new rules must keep reachable
          ansible.builtin.shell: 'echo "$SSH_CONNECTION"'
          become: false
          register: wgpc_ssh
          changed_when: false
          check_mode: false
          when: not ansible_check_mode and (wgpc_diff.rc == 1 or wgpc_force_apply | bool)

        - name: Check the bundle, and that the new rules keep this session reachable (changes nothing)
          ansible.builtin.command: "{{ wgpc_command }} apply {{ wgpc_root }}/incoming {{ wgpc_state }} --dry-run --firewall {{ wgpc_firewall }} --ssh-connection '{{ wgpc_ssh.stdout }}'"
          changed_when: false
          when: not ansible_check_mode and (wgpc_diff.rc == 1 or wgpc_force_apply | bool)

        - name: Apply the bundle (it checks the session again, and waits for a confirmation)
          ansible.builtin.command: "{{ wgpc_command }} apply {{ wgpc_root }}/incoming {{ wgpc_state }} --timeout {{ wgpc_timeout }} --firewall {{ wgpc_firewall }} --ssh-connection '{{ wgpc_ssh.stdout }}'"
          async: "{{ wgpc_timeout | int + 60 }}"
          poll: 0
          register: wgpc_apply
          changed_when: true
          when: not ansible_check_mode and (wgpc_diff.rc == 1 or wgpc_force_apply | bool)

        - name: Wait until the new rules are in and waiting
          ansible.builtin.command: "{{ wgpc_command }} apply --status {{ wgpc_state }}"
          register: wgpc_status
          until: "'waiting for confirmation' in wgpc_status.stdout"
          retries: 60
          delay: 1
          changed_when: false
          when: not ansible_check_mode and (wgpc_diff.rc == 1 or wgpc_force_apply | bool)

        - name: Drop the SSH connection, so that the next one passes the new rules
          ansible.builtin.meta: reset_connection

        - name: Reach the machine again over a new connection
          ansible.builtin.wait_for_connection:
            timeout: "{{ (wgpc_timeout | int / 2) | int }}"
          when: not ansible_check_mode and (wgpc_diff.rc == 1 or wgpc_force_apply | bool)

        - name: Confirm
          ansible.builtin.command: "{{ wgpc_command }} apply --confirm {{ wgpc_state }}"
          changed_when: false
          when: not ansible_check_mode and (wgpc_diff.rc == 1 or wgpc_force_apply | bool)

        - name: The apply kept the bundle
          ansible.builtin.async_status:
            jid: "{{ wgpc_apply.ansible_job_id }}"
          register: wgpc_job
          until: wgpc_job.finished
          retries: 30
          delay: 1
          when: not ansible_check_mode and (wgpc_diff.rc == 1 or wgpc_force_apply | bool)
      rescue:
        - name: What wgpc apply said
          ansible.builtin.async_status:
            jid: "{{ wgpc_apply.ansible_job_id }}"
          register: wgpc_job
          until: wgpc_job.finished
          retries: "{{ wgpc_timeout | int + 30 }}"
          delay: 1
          failed_when: false
          when: wgpc_apply.ansible_job_id is defined

        - name: Fail this machine (it rolled back, or rolls back at its timeout)
          ansible.builtin.fail:
            msg: "wgpc apply on {{ inventory_hostname }} was not confirmed: {{ wgpc_job.stderr | default('unreachable') }}"
`;

/** The files, as one more directory beside the hosts' (DIR/ansible/). */
export function ansibleBundle(policy: CheckedPolicy, bundles: readonly HostBundle[]): { host: string; artifacts: Artifact[] } {
  return {
    host: ANSIBLE_DIR,
    artifacts: [
      artifact("inventory.yml", inventory(policy, bundles)),
      artifact("playbook.yml", PLAYBOOK),
    ],
  };
}
