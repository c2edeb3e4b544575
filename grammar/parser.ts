// The wgp parser: tokens → concrete syntax tree. grammar/README.md holds the
// same grammar as EBNF; keep the two in step.
import { CstParser, type CstNode, type IToken, type TokenType, type IParserErrorMessageProvider, EOF } from "chevrotain";
import {
  allTokens,
  keywords as kw,
  Name,
  Ipv4,
  Ipv6,
  NumberLit,
  Quantity,
  StringLit,
  Arrow,
  Dash,
  Colon,
  Comma,
  Slash,
  Equals,
  LBrace,
  RBrace,
  LBracket,
  RBracket,
} from "./tokens.js";

// The parser's messages say only what was expected; src/syntax adds what was
// found and where, so every syntax error reads the same way.
function describe(token: TokenType): string {
  if (token === Name) return "a name";
  return token.LABEL ?? `\`${token.name}\``;
}

function firstTokens(paths: TokenType[][][]): string {
  const seen = new Set<string>();
  for (const alt of paths) for (const path of alt) if (path[0]) seen.add(describe(path[0]));
  const list = [...seen];
  if (list.length <= 1) return list[0] ?? "something else";
  return `${list.slice(0, -1).join(", ")} or ${list[list.length - 1]}`;
}

const statementKeywords = "a statement (`host`, `vpn`, `group`, `service`, `allow`, `deny`, `reject`, `masquerade`, `default`, `import`, …)";

export const expectedOnlyMessages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected }) => describe(expected),
  buildNotAllInputParsedMessage: () => statementKeywords,
  buildNoViableAltMessage: ({ expectedPathsPerAlt, ruleName }) =>
    ruleName === "statement" ? statementKeywords : firstTokens(expectedPathsPerAlt),
  buildEarlyExitMessage: ({ expectedIterationPaths }) => firstTokens([expectedIterationPaths]),
};

export class WgpParser extends CstParser {
  constructor() {
    super(allTokens, { recoveryEnabled: false, maxLookahead: 3, nodeLocationTracking: "onlyOffset", errorMessageProvider: expectedOnlyMessages });
    this.performSelfAnalysis();
  }

  public policy = this.RULE("policy", () => {
    this.MANY(() => this.SUBRULE(this.statement));
  });

  private statement = this.RULE("statement", () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.importStmt) },
      { ALT: () => this.SUBRULE(this.vpnDecl) },
      { ALT: () => this.SUBRULE(this.hostDecl) },
      { ALT: () => this.SUBRULE(this.groupDecl) },
      { ALT: () => this.SUBRULE(this.serviceDecl) },
      { ALT: () => this.SUBRULE(this.ruleStmt) },
      { ALT: () => this.SUBRULE(this.masqueradeStmt) },
      { ALT: () => this.SUBRULE(this.defaultStmt) },
      { ALT: () => this.SUBRULE(this.shapeStmt) },
      { ALT: () => this.SUBRULE(this.delayStmt) },
      { ALT: () => this.SUBRULE(this.linkStmt) },
      { ALT: () => this.SUBRULE(this.dropEarlyStmt) },
      { ALT: () => this.SUBRULE(this.expectStmt) },
    ]);
  });

  private importStmt = this.RULE("importStmt", () => {
    this.CONSUME(kw.import);
    this.CONSUME(StringLit);
  });

  private vpnDecl = this.RULE("vpnDecl", () => {
    this.CONSUME(kw.vpn);
    this.CONSUME(Name);
    this.CONSUME(kw.on);
    this.CONSUME2(Name, { LABEL: "iface" });
    this.CONSUME(LBrace);
    this.MANY(() => this.SUBRULE(this.vpnItem));
    this.CONSUME(RBrace);
  });

  private vpnItem = this.RULE("vpnItem", () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.networkItem) },
      { ALT: () => this.SUBRULE(this.hubItem) },
      { ALT: () => this.SUBRULE(this.peerItem) },
      { ALT: () => this.SUBRULE(this.mtuItem) },
    ]);
  });

  private networkItem = this.RULE("networkItem", () => {
    this.CONSUME(kw.network);
    this.SUBRULE(this.addressList);
  });

  private hubItem = this.RULE("hubItem", () => {
    this.CONSUME(kw.hub);
    this.CONSUME(Name);
    this.SUBRULE(this.addressList);
    this.MANY(() =>
      this.OR([
        {
          ALT: () => {
            this.CONSUME(kw.endpoint);
            this.SUBRULE(this.endpoint);
          },
        },
        {
          ALT: () => {
            this.CONSUME(kw.key);
            this.CONSUME(StringLit);
          },
        },
      ]),
    );
  });

  private peerItem = this.RULE("peerItem", () => {
    this.CONSUME(kw.peer);
    this.CONSUME(Name);
    this.SUBRULE(this.addressList);
    this.CONSUME(kw.key);
    this.CONSUME(StringLit);
    this.MANY(() =>
      this.OR([
        {
          ALT: () => {
            this.CONSUME(kw.endpoint);
            this.SUBRULE(this.endpoint);
          },
        },
        {
          ALT: () => {
            this.CONSUME(kw.keepalive);
            this.CONSUME(Quantity, { LABEL: "keepalive" });
          },
        },
        {
          // a full tunnel sends everything through the hub; split (the default) only the VPN networks
          ALT: () => {
            this.CONSUME(kw.tunnel);
            this.OR2([{ ALT: () => this.CONSUME(kw.full, { LABEL: "tunnel" }) }, { ALT: () => this.CONSUME(kw.split, { LABEL: "tunnel" }) }]);
          },
        },
      ]),
    );
  });

  private mtuItem = this.RULE("mtuItem", () => {
    this.CONSUME(kw.mtu);
    this.CONSUME(NumberLit);
  });

  // `10.0.123.2:51820`, `[2001:db8::2]:51820`, `hub.example.org:51820`
  private endpoint = this.RULE("endpoint", () => {
    this.OR([
      { ALT: () => this.CONSUME(Ipv4) },
      { ALT: () => this.SUBRULE(this.bracketedIpv6) },
      { ALT: () => this.CONSUME(Name) },
    ]);
    this.CONSUME(Colon);
    this.CONSUME(NumberLit);
  });

  private bracketedIpv6 = this.RULE("bracketedIpv6", () => {
    this.CONSUME(LBracket);
    this.CONSUME(Ipv6);
    this.CONSUME(RBracket);
  });

  private address = this.RULE("address", () => {
    this.OR([{ ALT: () => this.CONSUME(Ipv4) }, { ALT: () => this.CONSUME(Ipv6) }]);
  });

  private addressList = this.RULE("addressList", () => {
    this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.address) });
  });

  private hostDecl = this.RULE("hostDecl", () => {
    this.CONSUME(kw.host);
    this.CONSUME(Name);
    this.SUBRULE(this.addressList);
    this.OPTION(() => {
      this.CONSUME(kw.on);
      this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.CONSUME2(Name, { LABEL: "iface" }) });
    });
  });

  private groupDecl = this.RULE("groupDecl", () => {
    this.CONSUME(kw.group);
    this.CONSUME(Name);
    this.CONSUME(Equals);
    this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.target) });
  });

  private serviceDecl = this.RULE("serviceDecl", () => {
    this.CONSUME(kw.service);
    this.CONSUME(Name);
    this.CONSUME(Equals);
    this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.serviceItem) });
  });

  // `1234/tcp`, `1000-2000/udp`, `ssh`, `tcp`, `icmp/echo-request`, `icmp/8`
  private serviceItem = this.RULE("serviceItem", () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(NumberLit, { LABEL: "low" });
          this.OPTION(() => {
            this.CONSUME(Dash);
            this.CONSUME2(NumberLit, { LABEL: "high" });
          });
          this.CONSUME(Slash);
          this.CONSUME(Name, { LABEL: "proto" });
        },
      },
      {
        ALT: () => {
          this.CONSUME2(Name, { LABEL: "ref" });
          this.OPTION2(() => {
            this.CONSUME2(Slash);
            this.OR2([
              { ALT: () => this.CONSUME3(Name, { LABEL: "icmpType" }) },
              { ALT: () => this.CONSUME3(NumberLit, { LABEL: "icmpType" }) },
            ]);
          });
        },
      },
    ]);
  });

  private services = this.RULE("services", () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.serviceItem) },
      {
        ALT: () => {
          this.CONSUME(LBrace);
          this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.SUBRULE2(this.serviceItem) });
          this.CONSUME(RBrace);
        },
      },
    ]);
  });

  private target = this.RULE("target", () => {
    this.OR([
      { ALT: () => this.CONSUME(Name) },
      { ALT: () => this.SUBRULE(this.address) },
      { ALT: () => this.SUBRULE(this.bracketedIpv6) },
      {
        ALT: () => {
          this.CONSUME(LBrace);
          this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.target) });
          this.CONSUME(RBrace);
        },
      },
    ]);
  });

  private targetList = this.RULE("targetList", () => {
    this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.target) });
  });

  private destination = this.RULE("destination", () => {
    this.SUBRULE(this.target);
    this.OPTION(() => {
      this.CONSUME(Colon);
      this.SUBRULE(this.services);
    });
  });

  // allow, deny or reject: the verb of rules and defaults, the verdict of expectations
  private verb = this.RULE("verb", () => {
    this.OR([
      { ALT: () => this.CONSUME(kw.allow) },
      { ALT: () => this.CONSUME(kw.deny) },
      { ALT: () => this.CONSUME(kw.reject) },
    ]);
  });

  private ruleStmt = this.RULE("ruleStmt", () => {
    this.SUBRULE(this.verb);
    this.SUBRULE(this.target);
    this.CONSUME(Arrow);
    this.SUBRULE(this.destination);
    this.OPTION(() => {
      this.CONSUME(kw.comment);
      this.CONSUME(StringLit);
    });
  });

  private masqueradeStmt = this.RULE("masqueradeStmt", () => {
    this.CONSUME(kw.masquerade);
    this.CONSUME(Name);
    this.OPTION(() => {
      this.CONSUME(kw.via);
      this.CONSUME2(Name, { LABEL: "iface" });
    });
  });

  private defaultStmt = this.RULE("defaultStmt", () => {
    this.CONSUME(kw.default);
    this.SUBRULE(this.verb);
    this.OPTION(() => {
      this.CONSUME(kw.on);
      this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.CONSUME(Name) });
    });
  });

  // to (the default): traffic towards the targets; from: traffic they send
  private direction = this.RULE("direction", () => {
    this.OR([
      { ALT: () => this.CONSUME(kw.to) },
      { ALT: () => this.CONSUME(kw.from) },
      { ALT: () => this.CONSUME(kw.both) },
    ]);
  });

  private linkStmt = this.RULE("linkStmt", () => {
    this.CONSUME(kw.link);
    this.CONSUME(Name, { LABEL: "iface" });
    this.CONSUME(Quantity, { LABEL: "rate" });
  });

  private shapeStmt = this.RULE("shapeStmt", () => {
    this.CONSUME(kw.shape);
    this.OPTION(() => this.CONSUME(kw.each));
    this.OPTION2(() => this.SUBRULE(this.direction));
    this.SUBRULE(this.targetList);
    this.CONSUME(Quantity, { LABEL: "rate" });
    this.MANY(() =>
      this.OR([
        {
          ALT: () => {
            this.CONSUME(kw.ceil);
            this.CONSUME2(Quantity, { LABEL: "ceil" });
          },
        },
        {
          ALT: () => {
            this.CONSUME(kw.burst);
            this.CONSUME3(Quantity, { LABEL: "burst" });
          },
        },
        {
          ALT: () => {
            this.CONSUME(kw.prio);
            this.CONSUME(NumberLit, { LABEL: "prio" });
          },
        },
      ]),
    );
  });

  private delayStmt = this.RULE("delayStmt", () => {
    this.CONSUME(kw.delay);
    this.OPTION(() => this.SUBRULE(this.direction));
    this.SUBRULE(this.targetList);
    this.CONSUME(Quantity, { LABEL: "delay" });
    this.MANY(() =>
      this.OR([
        {
          ALT: () => {
            this.CONSUME(kw.jitter);
            this.CONSUME2(Quantity, { LABEL: "jitter" });
          },
        },
        {
          ALT: () => {
            this.CONSUME(kw.loss);
            this.CONSUME3(Quantity, { LABEL: "loss" });
          },
        },
      ]),
    );
  });

  private dropEarlyStmt = this.RULE("dropEarlyStmt", () => {
    this.CONSUME(kw.drop);
    this.AT_LEAST_ONE(() =>
      this.OR([
        {
          ALT: () => {
            this.CONSUME(kw.from);
            this.SUBRULE(this.targetList, { LABEL: "sources" });
          },
        },
        {
          ALT: () => {
            this.CONSUME(kw.to);
            this.SUBRULE(this.destination);
          },
        },
      ]),
    );
    this.CONSUME(kw.early);
    this.OPTION(() => {
      this.CONSUME(kw.acknowledge);
      this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.CONSUME(Name, { LABEL: "acknowledged" }) });
    });
  });

  // where and how traffic is looked at: one family, a conntrack state, the
  // interface it arrives on at the destination
  private flowOptions = this.RULE("flowOptions", () => {
    this.MANY(() =>
      this.OR([
        {
          ALT: () => {
            this.CONSUME(kw.family);
            this.CONSUME(NumberLit, { LABEL: "family" });
          },
        },
        {
          ALT: () => {
            this.CONSUME(kw.state);
            this.CONSUME2(Name, { LABEL: "state" });
          },
        },
        {
          ALT: () => {
            this.CONSUME(kw.on);
            this.CONSUME3(Name, { LABEL: "iface" });
          },
        },
      ]),
    );
  });

  /** `wgpc explain`'s question: traffic as an expectation states it, without a verdict. */
  public flowQuery = this.RULE("flowQuery", () => {
    this.SUBRULE(this.target);
    this.CONSUME(Arrow);
    this.SUBRULE(this.destination);
    this.SUBRULE(this.flowOptions);
  });

  private expectStmt = this.RULE("expectStmt", () => {
    this.CONSUME(kw.expect);
    this.SUBRULE(this.target);
    this.CONSUME(Arrow);
    this.SUBRULE(this.destination);
    this.SUBRULE(this.verb);
    this.SUBRULE(this.flowOptions);
  });
}

// One parser instance is reused: chevrotain parsers are built once and reset
// per input.
export const wgpParser = new WgpParser();

export function parseTokens(tokens: IToken[]): { cst: CstNode; errors: typeof wgpParser.errors } {
  wgpParser.input = tokens;
  const cst = wgpParser.policy();
  return { cst, errors: wgpParser.errors };
}

export function parseQueryTokens(tokens: IToken[]): { cst: CstNode; errors: typeof wgpParser.errors } {
  wgpParser.input = tokens;
  const cst = wgpParser.flowQuery();
  return { cst, errors: wgpParser.errors };
}

export { EOF };
