# Synthetic ADT examples (invented people). Run: python3 gen.py
import os
def msh(ev, struct, ctl, ts='20261103091500+0000', app='ADTSYS', fac='GENHOSP', cs=''):
    s='MSH|^~\\&|%s|%s|CAREBRIDGE|CB|%s||ADT^%s^%s|%s|P|2.5.1'%(app,fac,ts,ev,struct,ctl)
    if cs: s+='||||||'+cs
    return s
def seg(name, **f):
    n=max(int(k[1:]) for k in f)
    vals=['']*n
    for k,v in f.items(): vals[int(k[1:])-1]=v
    return name+'|'+'|'.join(vals)
PID_FULL='PID|1||MRN200001^^^GENHOSP^MR~943 476 5919^^^UKNHS^NH~P1234567^^^GBR^PPN||Okafor^Chiamaka^Grace^^Mrs^^L~Eze^Chiamaka^^^^^M||19850412093000|F|Okafor^Chi^^^^^A||7 Lantern Row^^Brightwater^^BW1 4QT^GBR^H~Unit 2, Harbour Works^Dock Lane^Brightwater^^BW2 9XY^GBR^O||01632 960101^PRN^PH~^NET^Internet^chiamaka.okafor@example.org~07700 900101^^CP|01632 960202^WPN^PH|en^English^HL70296|M^Married^HL70002|CHR^Christian^HL70006|ACC300001^^^GENHOSP^AN|||||Lagos|N'
NK1S=['NK1|1|Okafor^Emeka^^^Mr|SPO^Spouse^HL70063|7 Lantern Row^^Brightwater^^BW1 4QT^GBR^H|01632 960103^PRN^PH~07700 900103^PRN^CP||NOK^Next of kin^HL70131',
      'NK1|2|Okafor^Adaeze|DAU^Daughter^HL70063||07700 900104^PRS^CP']
PV1_A01=seg('PV1',f1='1',f2='I',f3='WARD7^12^B^GENHOSP',f4='EM^Emergency^HL70007',f7='DOC501^Haddad^Samir^^^Dr^^^GENHOSP',f8='GP777^Lindgren^Maja^^^Dr^^^GENHOSP',f9='DOC502^Novak^Petra^^^Dr^^^GENHOSP',f10='MED',f14='7',f17='DOC501^Haddad^Samir^^^Dr^^^GENHOSP',f19='VN800001^^^GENHOSP^VN',f44='20261103090000+0000')
msgs={}
msgs['a01-admit']=[msh('A01','ADT_A01','EX-A01'),'EVN|A01|20261103091400+0000',PID_FULL,'PD1|||Brightwater Medical Practice^^^^^^^^^M85001|GP777^Lindgren^Maja^^^Dr^^^GENHOSP']+NK1S+[PV1_A01,
 seg('PV2',f3='R06.0^Dyspnoea^I10',f8='20261103',f9='20261110',f25='2^Urgent^HL72017',f38='A^Ambulance^HL70430'),
 'AL1|1|DA^Drug allergy^HL70127|PEN^Penicillin^L|SV^Severe^HL70128|Anaphylaxis~Hives|20100301',
 'AL1|2|FA^Food allergy^HL70127|227493005^Cashew nuts^SCT|MI^Mild^HL70128|Itching',
 'DG1|1||J18.9^Pneumonia, unspecified organism^I10|||A|||||||||1',
 'DG1|2||E11.9^Type 2 diabetes mellitus without complications^I10|||W',
 seg('PR1',f1='1',f3='0BH17EZ^Insertion of endotracheal airway^I10P',f5='20261103101500+0000',f6='D',f11='DOC502^Novak^Petra^^^Dr^^^GENHOSP'),
 'ROL|1|AD|AT^Attending^HL70443|DOC501^Haddad^Samir^^^Dr^^^GENHOSP',
 seg('PR1',f1='2',f3='0DTJ4ZZ^Resection of appendix, percutaneous endoscopic approach^I10P',f5='20261104143000+0000',f6='D',f7='55',f11='DOC502^Novak^Petra^^^Dr^^^GENHOSP'),
 seg('IN1',f1='1',f2='GOLD^Gold Plan',f3='INS01^^^GENHOSP',f4='Northwind Health Insurance',f5='1 Insurer Way^^Brightwater^^BW9 1AA^GBR',f7='01632 960900^WPN^PH',f8='GRP-42',f9='Northwind Staff',f12='20260101',f13='20261231',f16='Okafor^Chiamaka',f17='SEL^Self^HL70063',f22='1',f36='POL100001'),
 'IN2|1||NHS123',
 seg('IN1',f1='2',f2='SILV^Silver Dental',f3='INS02^^^GENHOSP',f4='Bluebell Dental Cover',f12='20260601',f16='Okafor^Emeka',f17='SPO^Spouse^HL70063',f22='2',f36='POL100002')]
D501='DOC501^Haddad^Samir^^^Dr^^^GENHOSP'
PID_SHORT='PID|1||MRN200001^^^GENHOSP^MR||Okafor^Chiamaka^Grace^^Mrs||19850412|F'
msgs['a02-transfer']=[msh('A02','ADT_A02','EX-A02','20261104120000+0000'),'EVN|A02|20261104115900+0000',PID_SHORT,
 seg('PV1',f1='1',f2='I',f3='ICU^3^A^GENHOSP',f6='WARD7^12^B^GENHOSP',f7=D501,f10='MED',f19='VN800001^^^GENHOSP^VN',f44='20261103090000+0000')]
msgs['a03-discharge']=[msh('A03','ADT_A03','EX-A03','20261108153000+0000'),'EVN|A03|20261108152900+0000',PID_SHORT,
 seg('PV1',f1='1',f2='I',f3='ICU^3^A^GENHOSP',f7=D501,f10='MED',f19='VN800001^^^GENHOSP^VN',f36='01',f44='20261103090000+0000',f45='20261108150000+0000'),
 'DG1|1||J18.9^Pneumonia, unspecified organism^I10|||F']
msgs['a04-register-zsegment']=[msh('A04','ADT_A01','EX-A04','20261105083000'),'EVN|A04|20261105082900',
 'PID|1||MRN200002^^^GENHOSP^MR||Brennan^Tomasz||19720930|M|||3 Quarry Close^^Brightwater^^BW3 2RR^GBR||01632 960301',
 'PV1|1|O|OPD^^^GENHOSP||||DOC503^Achterberg^Lotte^^^Dr^^^GENHOSP||||||||||||VN800002^^^GENHOSP^VN|||||||||||||||||||||||||20261105082500',
 'ZPI|1|loyalty-card-7781|GOLD']
msgs['a05-preadmit']=[msh('A05','ADT_A05','EX-A05','20261106100000+0000'),'EVN|A05|20261106100000+0000',
 'PID|1||MRN200003^^^GENHOSP^MR||Ivanova^Svetlana||19600101|F',
 seg('PV1',f1='1',f2='P',f3='SURG2^^^GENHOSP',f7='DOC504^Mwangi^Otieno^^^Mr^^^GENHOSP',f10='SUR',f19='PRE900003^^^GENHOSP^VN'),
 'PV2||||||||20261120090000+0000|20261122120000+0000']
msgs['a06-outpatient-to-inpatient']=[msh('A06','ADT_A06','EX-A06','20261105140000+0000'),'EVN|A06|20261105140000+0000',
 'PID|1||MRN200002^^^GENHOSP^MR||Brennan^Tomasz||19720930|M',
 'MRG|MRN200002^^^GENHOSP^MR||||VN800002^^^GENHOSP^VN',
 'PV1|1|I|WARD3^4^A^GENHOSP||||DOC503^Achterberg^Lotte^^^Dr^^^GENHOSP||||||||||||VN800012^^^GENHOSP^VN|||||||||||||||||||||||||20261105135500+0000']
msgs['a07-inpatient-to-outpatient']=[msh('A07','ADT_A06','EX-A07','20261107100000+0000'),'EVN|A07|20261107100000+0000',
 'PID|1||MRN200002^^^GENHOSP^MR||Brennan^Tomasz||19720930|M',
 'PV1|1|O|OPD^^^GENHOSP||||DOC503^Achterberg^Lotte^^^Dr^^^GENHOSP||||||||||||VN800022^^^GENHOSP^VN|||||||||||||||||||||||||20261107095500+0000']
msgs['a08-update-nulls']=[msh('A08','ADT_A01','EX-A08','20261104090000+0000'),'EVN|A08|20261104090000+0000',
 'PID|1||MRN200001^^^GENHOSP^MR||Okafor^Chiamaka^Grace^^Mrs||19850412|F|||""||""||||""',
 seg('PV1',f1='1',f2='I',f3='WARD7^12^B^GENHOSP',f7=D501,f10='MED',f19='VN800001^^^GENHOSP^VN',f44='20261103090000+0000')]
msgs['a11-cancel-admit']=[msh('A11','ADT_A09','EX-A11','20261105091000+0000'),'EVN|A11|20261105091000+0000',
 'PID|1||MRN200004^^^GENHOSP^MR||Lindqvist^Anders||19911111|M',
 seg('PV1',f1='1',f2='I',f3='WARD7^14^A^GENHOSP',f19='VN800004^^^GENHOSP^VN',f44='20261105080000+0000')]
msgs['a12-cancel-transfer']=[msh('A12','ADT_A12','EX-A12','20261104130000+0000'),'EVN|A12|20261104130000+0000',PID_SHORT,
 seg('PV1',f1='1',f2='I',f3='WARD7^12^B^GENHOSP',f6='ICU^3^A^GENHOSP',f7=D501,f10='MED',f19='VN800001^^^GENHOSP^VN')]
msgs['a13-cancel-discharge']=[msh('A13','ADT_A01','EX-A13','20261108170000+0000'),'EVN|A13|20261108170000+0000',PID_SHORT,
 seg('PV1',f1='1',f2='I',f3='ICU^3^A^GENHOSP',f7=D501,f10='MED',f19='VN800001^^^GENHOSP^VN',f36='""',f44='20261103090000+0000',f45='""')]
msgs['a14-pending-admit']=[msh('A14','ADT_A05','EX-A14','20261106110000+0000'),'EVN|A14|20261106110000+0000',
 'PID|1||MRN200003^^^GENHOSP^MR||Ivanova^Svetlana||19600101|F',
 seg('PV1',f1='1',f2='P',f3='SURG2^^^GENHOSP',f7='DOC504^Mwangi^Otieno^^^Mr^^^GENHOSP',f10='SUR',f19='PRE900003^^^GENHOSP^VN')]
msgs['a28-add-person']=[msh('A28','ADT_A05','EX-A28','20261102080000+0000'),'EVN|A28|20261102080000+0000',
 'PID|1||MRN200005^^^GENHOSP^MR~485 777 3456^^^UKNHS^NH||Moreau^Élodie^^^Ms||20010704|F|||22 Beacon Hill^^Brightwater^^BW4 6PP^GBR^H||07700 900505^PRS^CP',
 'PV1|1|N']
msgs['a31-update-person-gb18030']=[msh('A31','ADT_A05','EX-A31','20261102090000+0000',cs='GB 18030'),'EVN|A31|20261102090000+0000',
 'PID|1||MRN200006^^^GENHOSP^MR||张^伟^^^^^L~Zhang^Wei^^^^^L||19780315|M|||人民路88号^3单元^上海^^200001^CHN^H||+86 21 5555 0188^PRN^PH|||M^Married^HL70002',
 'PV1|1|N']
msgs['a40-merge']=[msh('A40','ADT_A39','EX-A40','20261109100000+0000'),'EVN|A40|20261109100000+0000',
 'PID|1||MRN200001^^^GENHOSP^MR||Okafor^Chiamaka^Grace^^Mrs||19850412|F',
 'MRG|MRN299901^^^GENHOSP^MR||||||Okafor^Chiamaka']
msgs['a34-merge-patient-id']=[msh('A34','ADT_A30','EX-A34','20261109110000+0000'),'EVN|A34|20261109110000+0000',
 'PID|1||MRN200002^^^GENHOSP^MR||Brennan^Tomasz||19720930|M',
 'MRG|MRN299902^^^GENHOSP^MR']
msgs['a30-merge-person']=[msh('A30','ADT_A30','EX-A30','20261109120000+0000'),'EVN|A30|20261109120000+0000',
 'PID|1||MRN200003^^^GENHOSP^MR~401 023 2137^^^UKNHS^NH||Ivanova^Svetlana||19600101|F',
 'MRG|MRN299903^^^GENHOSP^MR|||MRN299903']
msgs['a37-unlink']=[msh('A37','ADT_A37','EX-A37','20261109130000+0000'),'EVN|A37|20261109130000+0000',
 'PID|1||MRN200004^^^GENHOSP^MR||Lindqvist^Anders||19911111|M',
 'PV1|1|N',
 'PID|2||MRN200007^^^GENHOSP^MR||Lindqvist^Anders^J||19911111|M',
 'PV1|1|N']
msgs['no-timezone']=[msh('A01','ADT_A01','EX-NOTZ','20261103091500',app='CLINSYS',fac='COTTAGEHOSP'),'EVN|A01|20261103091400',
 'PID|1||C-4411^^^COTTAGEHOSP^MR||Fairweather^Rowan||19990221|U',
 'PV1|1|E|AE^^^COTTAGEHOSP||||||||||||||||V-9001^^^COTTAGEHOSP^VN|||||||||||||||||||||||||202611030850']
msgs['unknown-code']=[msh('A08','ADT_A01','EX-UNK','20261104100000+0000'),'EVN|A08|20261104100000+0000',
 'PID|1||MRN200002^^^GENHOSP^MR||Brennan^Tomasz||19720930|M||||||||Q^Quasi-married^LOCAL',
 seg('PV1',f1='1',f2='Z',f3='OPD^^^GENHOSP',f19='VN800002^^^GENHOSP^VN')]
for name,segs in msgs.items():
    text='\r'.join(segs)+'\r'
    enc='gb18030' if 'gb18030' in name else 'utf-8'
    open(name+'.hl7','wb').write(text.encode(enc))
print('\n'.join('  - {name: %s, input: examples/ADT/%s.hl7, expect: examples/ADT/%s.json}'%(n,n,n) for n in msgs))
