// The abstract syntax tree. Every node carries the span of source it came
// from; nothing here is interpreted yet (addresses are still text, names are
// not resolved): that is src/check's job.

export interface Span {
  /** index into the compilation's source table (see src/syntax/source.ts) */
  readonly file: number;
  /** character offsets, end exclusive */
  readonly start: number;
  readonly end: number;
}

export interface Word {
  readonly text: string;
  readonly span: Span;
}

export interface AddressLit {
  readonly kind: "address";
  readonly text: string;
  readonly span: Span;
}

export type Target =
  | { readonly kind: "name"; readonly name: string; readonly span: Span }
  | AddressLit
  | { readonly kind: "list"; readonly items: readonly Target[]; readonly span: Span };

export type ServiceItem =
  | {
      readonly kind: "ports";
      readonly low: Word;
      readonly high?: Word;
      readonly proto: Word;
      readonly span: Span;
    }
  | {
      /** a service name or a bare protocol (`ssh`, `tcp`, `icmp/echo-request`) */
      readonly kind: "named";
      readonly name: Word;
      readonly icmpType?: Word;
      readonly span: Span;
    };

export interface Destination {
  readonly target: Target;
  readonly services?: readonly ServiceItem[];
  readonly span: Span;
}

export interface Endpoint {
  readonly host: Word;
  readonly hostKind: "ipv4" | "ipv6" | "name";
  readonly port: Word;
  readonly span: Span;
}

export interface PeerDecl {
  readonly kind: "peer";
  readonly name: Word;
  readonly addresses: readonly AddressLit[];
  readonly key: Word;
  readonly endpoint?: Endpoint;
  readonly keepalive?: Word;
  readonly tunnel: "full" | "split";
  readonly span: Span;
}

export interface HubDecl {
  readonly kind: "hub";
  readonly name: Word;
  readonly addresses: readonly AddressLit[];
  readonly endpoint?: Endpoint;
  readonly key?: Word;
  readonly span: Span;
}

export type Verb = "allow" | "deny" | "reject";
/** Which traffic of a target a shape or delay is about: sent to it, sent by it, or both. */
export type Direction = "to" | "from" | "both";

export type Statement =
  | { readonly kind: "import"; readonly path: Word; readonly span: Span }
  | {
      readonly kind: "vpn";
      readonly name: Word;
      readonly iface: Word;
      readonly networks: readonly AddressLit[];
      readonly hubs: readonly HubDecl[];
      readonly peers: readonly PeerDecl[];
      readonly mtu?: Word;
      readonly span: Span;
    }
  | {
      readonly kind: "host";
      readonly name: Word;
      readonly addresses: readonly AddressLit[];
      readonly ifaces: readonly Word[];
      readonly span: Span;
    }
  | { readonly kind: "group"; readonly name: Word; readonly members: readonly Target[]; readonly span: Span }
  | { readonly kind: "service"; readonly name: Word; readonly items: readonly ServiceItem[]; readonly span: Span }
  | {
      readonly kind: "rule";
      readonly verb: Verb;
      readonly verbSpan: Span;
      readonly source: Target;
      readonly destination: Destination;
      readonly comment?: Word;
      readonly span: Span;
    }
  | { readonly kind: "masquerade"; readonly source: Word; readonly via?: Word; readonly span: Span }
  | { readonly kind: "default"; readonly verb: Verb; readonly hosts: readonly Word[]; readonly span: Span }
  | { readonly kind: "link"; readonly iface: Word; readonly rate: Word; readonly span: Span }
  | {
      readonly kind: "shape";
      /** one class per member of the targets instead of one for all */
      readonly each: boolean;
      readonly direction: Direction;
      readonly targets: readonly Target[];
      readonly rate: Word;
      readonly ceil?: Word;
      readonly burst?: Word;
      readonly prio?: Word;
      readonly span: Span;
    }
  | {
      readonly kind: "delay";
      readonly direction: Direction;
      readonly targets: readonly Target[];
      readonly delay: Word;
      readonly jitter?: Word;
      readonly loss?: Word;
      readonly span: Span;
    }
  | {
      readonly kind: "drop-early";
      readonly sources: readonly Target[];
      readonly destination?: Destination;
      /** what the admin accepts losing: `neighbour-discovery`, `wireguard` */
      readonly acknowledged: readonly Word[];
      readonly span: Span;
    }
  | {
      readonly kind: "expect";
      readonly source: Target;
      readonly destination: Destination;
      readonly verdict: Verb;
      /** `family 4|6`: only this family */
      readonly family?: Word;
      /** `state NAME`: the packet's conntrack state (default new) */
      readonly state?: Word;
      /** `on IFACE`: only paths arriving at the destination on this interface */
      readonly iface?: Word;
      readonly span: Span;
    };

export type StatementKind = Statement["kind"];

export interface CommentNode {
  readonly text: string;
  readonly span: Span;
}

export interface PolicyFile {
  readonly file: number;
  readonly statements: readonly Statement[];
  /** kept for the formatter */
  readonly comments: readonly CommentNode[];
}
